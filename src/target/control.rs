//! The control shell's framing: one long-lived `sh` per SSH host (an `exec` of `sh` on a session
//! channel, no PTY), commands written to its stdin, their output read back from its stdout and
//! stderr between marker lines. A command then costs a fork on the host, not a new sshd session
//! (see shared/ssh-facts.md: 0.12–0.17 ms for a command written to a running shell).
//!
//! One frame per command, written in one piece:
//!
//! ```text
//! printf '%s\n' 'M S'; printf '%s\n' 'M S' >&2; { LINE
//! } </dev/null; printf '\n%s=%s\n' 'M S' "$?"; printf '\n%s=\n' 'M S' >&2
//! ```
//!
//! `M` is 128 random bits drawn per connection (never on a command line, never in the command's
//! environment, and the command's stdin is /dev/null so it cannot read the frames that follow),
//! `S` the frame's sequence number. `LINE` is the command exactly as the exec path runs it
//! (`timeout -k 5 N sh -c '…'`, inside `sudo -n --` when asked), so each command is a child of the
//! shell with its own remote timeout. A stream's frame starts after its `M S` line (anything before
//! it, such as late output of an earlier command's background child, is dropped) and ends at the
//! first `\nM S=` line; the exit status rides on stdout's end line (`M S=<status>`). Output that does not know `M`
//! cannot end a frame early, and output that knows an old `S` cannot end a later one.
//! Output is read through [`CappedOutput`] as it arrives: the frame parser holds at most the end
//! marker's length beside the cap.

use super::CappedOutput;

/// Longest end-marker suffix accepted (`-2147483648`); longer means the stream is not ours.
const MAX_SUFFIX: usize = 16;

/// A per-connection marker: 32 hex digits from the system's random source.
pub fn new_marker() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no system randomness for the control shell's marker".to_string())?;
    Ok(format!("gd-{}", data_encoding::HEXLOWER.encode(&bytes)))
}

/// The bytes written to the shell's stdin to run `line` as frame `seq`.
pub fn frame(marker: &str, seq: u64, line: &str) -> Vec<u8> {
    // The marker is `gd-` and hex digits, the sequence a number: safe inside single quotes.
    let tag = format!("{marker} {seq}");
    format!(
        "printf '%s\\n' '{tag}'; printf '%s\\n' '{tag}' >&2; {{ {line}\n}} </dev/null; printf '\\n%s=%s\\n' '{tag}' \"$?\"; printf '\\n%s=\\n' '{tag}' >&2\n"
    )
    .into_bytes()
}

/// Where one stream (stdout or stderr) of a frame stands.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the start line; everything before it is dropped.
    BeforeStart,
    Body,
    /// The end line was read; its suffix (`<status>` on stdout, empty on stderr).
    Ended(String),
    /// One of the exchange's other lines came instead of a start (its index in `done`): no
    /// more numbered steps.
    Done(usize),
}

/// One stream of one frame, parsed as it arrives.
#[derive(Debug)]
pub struct FrameStream {
    start: Vec<u8>,
    end: Vec<u8>,
    /// An exchange's other lines (its last line, the detached step's start), which may come
    /// instead of this step's start.
    done: Vec<Vec<u8>>,
    /// Bytes after the end line: the next step's (exchanges), or no frame's.
    rest: Vec<u8>,
    phase: Phase,
    /// Bytes not yet judged: they may be the start of a marker line. Bounded by the marker's length.
    pending: Vec<u8>,
    pub out: CappedOutput,
}

/// The stream broke the frame protocol (an end line that is not ours): the shell is not trusted
/// any more.
#[derive(Debug, PartialEq, Eq)]
pub struct Garbled(pub String);

impl FrameStream {
    pub fn new(marker: &str, seq: u64) -> FrameStream {
        FrameStream::tagged(&format!("{marker} {seq}"), &[])
    }

    /// The frame tagged `tag` whose start line was already read (a detached step).
    pub fn in_body(tag: &str) -> FrameStream {
        let mut f = FrameStream::tagged(tag, &[]);
        f.phase = Phase::Body;
        f
    }

    /// The stream of the frame tagged `tag` (`M S`, or `M S K` for step K of an exchange);
    /// `done`: the exchange's other lines, any of which may come instead of the start.
    pub fn tagged(tag: &str, done: &[String]) -> FrameStream {
        FrameStream {
            start: format!("{tag}\n").into_bytes(),
            end: format!("\n{tag}=").into_bytes(),
            done: done.iter().map(|d| format!("{d}\n").into_bytes()).collect(),
            rest: Vec::new(),
            phase: Phase::BeforeStart,
            pending: Vec::new(),
            out: CappedOutput::new(),
        }
    }

    /// Which of the exchange's other lines came instead of a start (index in `done`).
    pub fn done(&self) -> Option<usize> {
        match self.phase {
            Phase::Done(i) => Some(i),
            _ => None,
        }
    }

    /// What came after this frame's end line (the next step's bytes), taken once.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rest)
    }

    pub fn started(&self) -> bool {
        self.phase != Phase::BeforeStart
    }

    /// The end line's suffix once the frame has ended on this stream.
    pub fn ended(&self) -> Option<&str> {
        match &self.phase {
            Phase::Ended(s) => Some(s),
            _ => None,
        }
    }

    /// Takes one chunk of the stream. Bytes after the end line belong to no frame and are dropped.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), Garbled> {
        loop {
            match self.phase {
                Phase::Ended(_) => {
                    self.rest.extend_from_slice(chunk);
                    return Ok(());
                }
                Phase::Done(_) => {
                    self.rest.extend_from_slice(chunk);
                    return Ok(());
                }
                Phase::BeforeStart => {
                    self.pending.extend_from_slice(chunk);
                    chunk = &[];
                    let start = find(&self.pending, &self.start);
                    let other = self
                        .done
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| find(&self.pending, d).map(|at| (at, i, d.len())))
                        .min();
                    if let Some((at, i, len)) = other
                        && start.is_none_or(|s| s > at)
                    {
                        self.rest = self.pending[at + len..].to_vec();
                        self.pending = Vec::new();
                        self.phase = Phase::Done(i);
                        return Ok(());
                    }
                    match find(&self.pending, &self.start) {
                        Some(at) => {
                            self.pending.drain(..at + self.start.len());
                            self.phase = Phase::Body;
                        }
                        None => {
                            let longest = self.done.iter().map(Vec::len).max().unwrap_or(0);
                            keep_tail(&mut self.pending, self.start.len().max(longest) - 1);
                            return Ok(());
                        }
                    }
                }
                Phase::Body => {
                    // Only what is needed to judge a marker is held; the rest goes to the cap now.
                    self.pending.extend_from_slice(chunk);
                    let Some(at) = find(&self.pending, &self.end) else {
                        let keep = self.end.len() - 1;
                        if self.pending.len() > keep {
                            let cut = self.pending.len() - keep;
                            self.out.push(&self.pending[..cut]);
                            self.pending.drain(..cut);
                        }
                        return Ok(());
                    };
                    let rest = &self.pending[at + self.end.len()..];
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > MAX_SUFFIX {
                            return Err(Garbled(format!(
                                "an end marker followed by {} bytes without a newline",
                                rest.len()
                            )));
                        }
                        // The end line is not whole yet: keep it, judge it with the next chunk.
                        let body = at;
                        self.out.push(&self.pending[..body]);
                        self.pending.drain(..body);
                        return Ok(());
                    };
                    let suffix = String::from_utf8_lossy(&rest[..nl]).into_owned();
                    self.rest = rest[nl + 1..].to_vec();
                    self.out.push(&self.pending[..at]);
                    self.pending = Vec::new();
                    self.phase = Phase::Ended(suffix);
                    return Ok(());
                }
            }
        }
    }
}

/// The exit status on stdout's end line (`=<status>`, the `=` already taken as the marker's end).
pub fn exit_status(suffix: &str) -> Result<i32, Garbled> {
    suffix
        .parse()
        .ok()
        .ok_or_else(|| Garbled(format!("end marker with no exit status: {suffix:?}")))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn keep_tail(v: &mut Vec<u8>, n: usize) {
    if v.len() > n {
        v.drain(..v.len() - n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::OUTPUT_CAP;

    const M: &str = "gd-0123456789abcdef0123456789abcdef";

    fn feed(s: &mut FrameStream, bytes: &[u8], step: usize) {
        for c in bytes.chunks(step.max(1)) {
            s.push(c).unwrap();
        }
    }

    #[test]
    fn a_frame_is_read_whatever_the_chunking() {
        let wire = format!("late junk{M} 7\nhello\nno newline\n{M} 7=3\nafter");
        for step in [1, 2, 3, 5, 64, 4096] {
            let mut s = FrameStream::new(M, 7);
            feed(&mut s, wire.as_bytes(), step);
            assert_eq!(s.ended(), Some("3"), "step {step}");
            assert_eq!(exit_status(s.ended().unwrap()), Ok(3));
            let FrameStream { out, .. } = s;
            assert_eq!(out.into_text(), "hello\nno newline", "step {step}");
        }
    }

    #[test]
    fn a_marker_of_another_frame_or_connection_does_not_end_it() {
        let other = "gd-ffffffffffffffffffffffffffffffff";
        let body = format!("x\n{other} 7=0\n{M} 6=0\n{M} 77=0\n{M} 7 0\n{M} 7x\ny");
        let wire = format!("{M} 7\n{body}\n{M} 7=1\n");
        let mut s = FrameStream::new(M, 7);
        feed(&mut s, wire.as_bytes(), 3);
        assert_eq!(s.ended(), Some("1"));
        assert_eq!(s.out.into_text(), body);
    }

    #[test]
    fn huge_output_holds_the_cap_and_the_end_is_still_found() {
        let mut s = FrameStream::new(M, 1);
        s.push(format!("{M} 1\n").as_bytes()).unwrap();
        let chunk = vec![b'y'; 10_000];
        for _ in 0..1000 {
            s.push(&chunk).unwrap();
            assert!(
                s.pending.len() < 64,
                "the parser holds only a marker's length"
            );
        }
        s.push(format!("\n{M} 1=0\n").as_bytes()).unwrap();
        assert_eq!(s.ended(), Some("0"));
        assert_eq!(s.out.kept(), OUTPUT_CAP);
        assert_eq!(s.out.dropped(), 10_000_000 - OUTPUT_CAP as u64);
    }

    #[test]
    fn an_exchange_is_read_step_by_step_until_its_last_line() {
        let wire = format!(
            "{M} 4 1\nundo out\n{M} 4 1=1 undo\n{M} 4 2\n\n{M} 4 2=0 undo\n{M} 4 3\nok\n{M} 4 3=0 verify\n{M} 4/end\n"
        );
        for step in [1, 7, 4096] {
            let mut got = Vec::new();
            let mut k = 1;
            let end = [format!("{M} 4/end")];
            let mut s = FrameStream::tagged(&format!("{M} 4 {k}"), &end);
            for c in wire.as_bytes().chunks(step) {
                s.push(c).unwrap();
                while let Some(suffix) = s.ended().map(str::to_string) {
                    let rest = s.take_rest();
                    let done = std::mem::replace(
                        &mut s,
                        FrameStream::tagged(&format!("{M} 4 {}", k + 1), &end),
                    );
                    got.push((suffix, done.out.into_text()));
                    k += 1;
                    s.push(&rest).unwrap();
                }
            }
            assert_eq!(s.done(), Some(0), "step {step}");
            assert_eq!(
                got,
                [
                    ("1 undo".to_string(), "undo out".to_string()),
                    ("0 undo".into(), "".into()),
                    ("0 verify".into(), "ok".into())
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn a_garbled_end_line_is_an_error() {
        let mut s = FrameStream::new(M, 1);
        let wire = format!("{M} 1\n\n{M} 1={}", "9".repeat(40));
        assert!(s.push(wire.as_bytes()).is_err());
        assert!(exit_status("x").is_err());
        assert_eq!(exit_status("-1"), Ok(-1));
        assert!(exit_status("").is_err());
    }

    #[test]
    fn frames_quote_nothing_the_caller_gave() {
        let f = String::from_utf8(frame(M, 3, "timeout -k 5 1 sh -c 'echo hi'")).unwrap();
        assert!(
            f.contains("{ timeout -k 5 1 sh -c 'echo hi'\n} </dev/null;"),
            "{f}"
        );
        assert!(f.ends_with('\n'));
        let m = new_marker().unwrap();
        assert_eq!(m.len(), 35);
        assert_ne!(m, new_marker().unwrap());
    }
}
