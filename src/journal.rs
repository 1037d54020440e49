//! The journal: append-only JSON Lines, one [`Envelope`] a line, the run's source of truth.
//!
//! What it guarantees:
//! - **One writer.** A [`JournalWriter`] holds an exclusive lock on its file for its whole life. A
//!   second writer (another run, `recover` on a live run's journal) is refused with
//!   [`JournalError::Locked`], which names the holder, and touches nothing.
//! - **Whole lines.** Each line is written in one call. When a write fails midway (a full disk) the
//!   file is cut back to its last whole line before the next append, so a failed write never leaves
//!   a torn line in the middle. Only a crash can leave a torn line, and only the last one.
//! - **Durable safety records.** Fault intent and result, halt, rollback and verdict records are
//!   fsync'd before `append` returns, so a crash right after an inject still leaves the undo on disk.
//!   The directory is fsync'd once the journal file is created. The engine's writer groups the
//!   syncs of results (rollback, criterion and step results: [`Event::shares_sync`]): written at
//!   once, synced together at the end of the engine's turn (`group_sync`, `sync_pending`), so a
//!   halt of 50 hosts costs a few fsyncs rather than 50 in a row (3 ms each on this machine's disk).
//! - **Sequence numbers strictly increase.** Every append attempt consumes one, even a failed one, so a
//!   number never appears twice; readers see a gap where a record could not be written.
//! - **Nothing vanishes.** A record that cannot be journaled is written to stderr and to
//!   `<journal>.unjournaled` (or, failing that, `$TMPDIR/gameday-<run>.unjournaled`), and counted
//!   ([`JournalWriter::unjournaled`]); `append` still returns the error.
//! - **Every line reads back.** Each line is parsed again before it is written. One that would not
//!   read back is refused with [`JournalError::Unreadable`] (and kept as above): JSON has no NaN or
//!   infinity, so serde_json writes them as `null`, which no plain `f64` accepts (a threshold of
//!   `-.inf`). A non-finite `Option<f64>` (a reading) is written as `null` and reads back as no
//!   value. `append` returns the envelope as it reads back from its line.
//! - **No secrets.** Every value given to [`JournalWriter::redact`] becomes `[REDACTED]` in every
//!   string of every line, in the side files and on stderr, and in the envelope `append` returns.
//! - **Readers never modify a journal.** [`read`] skips a torn last line and reports it
//!   ([`Journal::torn`]); damage anywhere else is refused with its line number. Only the lock holder
//!   repairs a torn tail: [`JournalWriter::append_to`] copies the file to `<journal>.broken` (then
//!   `.broken.2`, `.broken.3`, …; never overwritten) and cuts the torn line off.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::event::{Envelope, Event};

/// What a configured secret becomes in the journal.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}:{line}: corrupt journal line ({reason}); only a torn last line can be skipped, so this journal is refused: inspect it by hand"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: the journal is empty")]
    Empty { path: PathBuf },
    #[error(
        "{path}: the journal is being written by {}; only one writer at a time (is that run still going?)",
        holder.as_deref().unwrap_or("another process")
    )]
    Locked {
        path: PathBuf,
        /// `pid N (command line)` when /proc/locks tells.
        holder: Option<String>,
    },
    #[error("{path}: record {seq} was not journaled: {reason}")]
    Unreadable {
        path: PathBuf,
        seq: u64,
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A secret as it is searched for: raw inside decoded strings, escaped inside JSON text.
struct Secret {
    raw: String,
    escaped: String,
}

impl Secret {
    fn new(raw: String) -> Secret {
        let quoted = serde_json::to_string(&raw).unwrap_or_default();
        let escaped = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(&raw)
            .to_string();
        Secret { raw, escaped }
    }

    fn in_text(&self, text: &str) -> bool {
        text.contains(&self.raw) || text.contains(&self.escaped)
    }
}

pub struct JournalWriter {
    /// Kept open for the writer's whole life: it carries the exclusive lock.
    file: File,
    path: PathBuf,
    run: String,
    next_seq: u64,
    /// Length of the whole lines in the file; a failed write is cut back to here.
    whole_len: u64,
    /// A write failed and may have left part of a line after `whole_len`.
    torn: bool,
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<Secret>,
    unjournaled: usize,
    unjournaled_files: Vec<PathBuf>,
    repaired: Option<PathBuf>,
    /// Group commit (the engine's): results ([`Event::shares_sync`]) are written at once and
    /// synced by [`JournalWriter::sync_pending`] at the end of the engine's turn, one fsync for
    /// every result finished meanwhile.
    group_sync: bool,
    /// Lines written since the last sync that need one.
    unsynced: bool,
    /// fsyncs done (for tests of the sync policy).
    syncs: u64,
}

impl JournalWriter {
    fn new(file: File, path: &Path, run: String, next_seq: u64, whole_len: u64) -> Self {
        JournalWriter {
            file,
            path: path.to_path_buf(),
            run,
            next_seq,
            whole_len,
            torn: false,
            secrets: Vec::new(),
            unjournaled: 0,
            unjournaled_files: Vec::new(),
            repaired: None,
            group_sync: false,
            unsynced: false,
            syncs: 0,
        }
    }

    /// Starts a new journal and locks it; refuses to overwrite an existing one.
    pub fn create(path: &Path, run: &str) -> Result<Self, JournalError> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        lock(&file, path)?;
        // The journal's name must survive a crash as surely as its first record.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        Ok(JournalWriter::new(file, path, run.to_string(), 1, 0))
    }

    /// Starts the journal of a new run of `scenario`: at `path`, or by default at
    /// `runs/<UTC time>-<slug>/journal.jsonl`, with a fresh run id.
    pub fn start_for(
        scenario: &crate::scenario::Scenario,
        path: Option<PathBuf>,
    ) -> Result<Self, JournalError> {
        let now = Utc::now();
        let stamp = now.format("%Y%m%dT%H%M%SZ");
        let path = path.unwrap_or_else(|| {
            PathBuf::from("runs")
                .join(format!("{stamp}-{}", scenario.slug()))
                .join("journal.jsonl")
        });
        let run = format!("{stamp}-{:04x}", now.timestamp_subsec_nanos() & 0xffff);
        JournalWriter::create(&path, &run)
    }

    /// Continues an existing journal (for `recover`) and returns what was there. Takes the lock
    /// first (refused, touching nothing, while another writer holds it), then repairs a torn tail:
    /// the file is copied to `<journal>.broken` (see [`JournalWriter::repaired`]) and the torn line cut.
    pub fn append_to(path: &Path) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        lock(&file, path)?;
        // Streams to the end, keeping only the last record: memory independent of the length.
        let mut reader = Reader::from_file(file.try_clone().map_err(io_err(path))?, path);
        let mut last = None;
        for env in reader.by_ref() {
            last = Some(env?);
        }
        let whole_len = reader.whole_len();
        let lines = reader.lines();
        let torn = reader.torn().cloned();
        let last = last.ok_or(JournalError::Empty {
            path: path.to_path_buf(),
        })?;
        let overflow = || JournalError::Corrupt {
            path: path.to_path_buf(),
            line: lines,
            reason: "sequence number too large to continue".into(),
        };
        let mut next_seq = last.seq.checked_add(1).ok_or_else(overflow)?;
        let mut repaired = None;
        if let Some(torn) = &torn {
            let copy = keep_broken_copy(&file, path)?;
            file.set_len(whole_len).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
            tracing::warn!(journal = %path.display(), copy = %copy.display(), line = torn.line,
                reason = %torn.reason, "cut a torn last line off");
            // The torn line may have carried `next_seq`: skip it so no number appears twice.
            next_seq = next_seq.checked_add(1).ok_or_else(overflow)?;
            repaired = Some(copy);
        }
        let mut writer = JournalWriter::new(file, path, last.run, next_seq, whole_len);
        writer.repaired = repaired;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Replaces each of `secrets` (empty ones are ignored) by `[REDACTED]` in every string of
    /// every line written from now on. Adds to the secrets given before.
    pub fn redact(&mut self, secrets: Vec<String>) {
        for s in secrets {
            if !s.is_empty() && !self.secrets.iter().any(|k| k.raw == s) {
                self.secrets.push(Secret::new(s));
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.raw.len()));
    }

    /// How many records could not be journaled (each went to stderr and, when it could be
    /// written, to one of [`JournalWriter::unjournaled_files`]).
    pub fn unjournaled(&self) -> usize {
        self.unjournaled
    }

    /// The side files holding records that could not be journaled, in order of first use.
    pub fn unjournaled_files(&self) -> &[PathBuf] {
        &self.unjournaled_files
    }

    /// The copy of the original file kept when [`JournalWriter::append_to`] cut a torn tail.
    pub fn repaired(&self) -> Option<&Path> {
        self.repaired.as_deref()
    }

    /// Writes one event as one line and returns it as it reads back from that line (redacted).
    /// Safety records are synced to disk before this returns. On failure the record goes to
    /// stderr and a side file (see the module doc), and its sequence number is not reused.
    pub fn append(&mut self, ts: DateTime<Utc>, event: Event) -> Result<Envelope, JournalError> {
        let seq = self.next_seq;
        let sync = event.is_safety_record() && !(self.group_sync && event.shares_sync());
        self.unsynced |= event.is_safety_record() && !sync;
        let env = Envelope {
            seq,
            ts,
            run: self.run.clone(),
            event,
        };
        let Some(next) = seq.checked_add(1) else {
            let text = self.redact_text(&format!("{env:?}"));
            let err = self.unreadable(seq, "sequence numbers are exhausted".into());
            return Err(self.keep_unjournaled(&text, err));
        };
        // Consumed by this attempt whatever happens to it.
        self.next_seq = next;
        let (line, written) = match self.encode(&env) {
            Ok(encoded) => encoded,
            Err((text, err)) => return Err(self.keep_unjournaled(&text, err)),
        };
        match self.write_line(&line, sync) {
            Ok(()) => Ok(written),
            Err(err) => Err(self.keep_unjournaled(&line, err)),
        }
    }

    fn unreadable(&self, seq: u64, reason: String) -> JournalError {
        JournalError::Unreadable {
            path: self.path.clone(),
            seq,
            reason,
        }
    }

    /// The line for `env`, redacted, and the envelope it reads back as. On failure: the best text
    /// of the record that is safe to show (redacted) and why.
    fn encode(&self, env: &Envelope) -> Result<(String, Envelope), (String, JournalError)> {
        let seq = env.seq;
        let debug = || self.redact_text(&format!("{env:?}"));
        let mut line = serde_json::to_string(env).map_err(|e| {
            (
                debug(),
                self.unreadable(seq, format!("cannot serialize it: {e}")),
            )
        })?;
        if self.secrets.iter().any(|s| s.in_text(&line)) {
            let mut value = serde_json::to_value(env).map_err(|e| {
                (
                    debug(),
                    self.unreadable(seq, format!("cannot serialize it: {e}")),
                )
            })?;
            redact_value(&mut value, &self.secrets);
            let text = value.to_string();
            // Through the typed envelope again, so redacted lines keep the usual field order.
            let redacted: Envelope = serde_json::from_value(value).map_err(|e| {
                let why = format!(
                    "redacting a secret broke the record ({e}): a configured secret is part of the journal's own vocabulary"
                );
                (text, self.unreadable(seq, why))
            })?;
            line = serde_json::to_string(&redacted).map_err(|e| {
                (
                    debug(),
                    self.unreadable(seq, format!("cannot serialize it: {e}")),
                )
            })?;
            if self.secrets.iter().any(|s| s.in_text(&line)) {
                let why = "a configured secret appears outside any string (as a number or JSON syntax): too short to redact".to_string();
                return Err((self.redact_text(&line), self.unreadable(seq, why)));
            }
        }
        let written: Envelope = serde_json::from_str(&line).map_err(|e| {
            let why = format!(
                "its line would not read back ({e}); NaN and infinity cannot be journaled where a number is required"
            );
            (line.clone(), self.unreadable(seq, why))
        })?;
        Ok((line, written))
    }

    /// Text-level redaction, for text that is shown but never parsed.
    fn redact_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(&s.raw, REDACTED).replace(&s.escaped, REDACTED);
        }
        out
    }

    fn write_line(&mut self, line: &str, sync: bool) -> Result<(), JournalError> {
        if self.torn {
            // A failed write left part of a line: cut it so the next line starts clean.
            self.file
                .set_len(self.whole_len)
                .map_err(io_err(&self.path))?;
            self.torn = false;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // One write call per line: a crash leaves at most one torn line, at the end.
        if let Err(e) = self.file.write_all(&bytes) {
            self.torn = true;
            return Err(io_err(&self.path)(e));
        }
        self.whole_len = self.whole_len.saturating_add(bytes.len() as u64);
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.syncs = self.syncs.saturating_add(1);
        // One fsync makes every line before it durable.
        self.unsynced = false;
        Ok(())
    }

    /// Group commit: results ([`Event::shares_sync`]) are no longer synced one by one but by
    /// [`JournalWriter::sync_pending`], which the engine calls at the end of each turn of its loop
    /// (after handling every rollback that had finished). Every other safety record (an intent
    /// before its inject, a halt, a verdict) is still synced before `append` returns, and with
    /// it everything written before.
    pub fn group_sync(&mut self, on: bool) {
        self.group_sync = on;
    }

    /// Syncs the results written since the last sync, if any.
    pub fn sync_pending(&mut self) -> Result<(), JournalError> {
        if self.unsynced { self.sync() } else { Ok(()) }
    }

    /// fsyncs done so far.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Keeps a record that could not be journaled where a human finds it; returns `err`.
    fn keep_unjournaled(&mut self, text: &str, err: JournalError) -> JournalError {
        self.unjournaled = self.unjournaled.saturating_add(1);
        let mut side = self.path.as_os_str().to_owned();
        side.push(".unjournaled");
        let candidates = [PathBuf::from(side), fallback_side_file(&self.run)];
        let kept = candidates
            .into_iter()
            .find(|p| append_whole_line(p, text).is_ok());
        let where_ = match &kept {
            Some(p) => format!("kept in {}", p.display()),
            None => "no side file could be written either".to_string(),
        };
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "gameday: NOT JOURNALED: {err}; {where_}. The record:"
        );
        let _ = writeln!(stderr, "{text}");
        if let Some(p) = kept
            && !self.unjournaled_files.contains(&p)
        {
            self.unjournaled_files.push(p);
        }
        err
    }
}

/// `$TMPDIR/gameday-<run>.unjournaled`, with the run id reduced to characters safe in a file name.
fn fallback_side_file(run: &str) -> PathBuf {
    let safe: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::env::temp_dir().join(format!("gameday-{safe}.unjournaled"))
}

/// Appends `text` and a newline to `path`, synced; cuts a partial write back off.
fn append_whole_line(path: &Path, text: &str) -> io::Result<()> {
    // Private and no symlinks: the fallback lives in a shared temporary directory.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = f.metadata()?;
    // A file another user made there first (the fallback's name is guessable) would receive
    // the record: refused, so the record goes to stderr instead.
    // SAFETY: geteuid cannot fail and touches no memory.
    if std::os::unix::fs::MetadataExt::uid(&meta) != unsafe { libc::geteuid() } {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to another user", path.display()),
        ));
    }
    let len = meta.len();
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    let written = f.write_all(&bytes).and_then(|()| f.sync_data());
    if written.is_err() {
        let _ = f.set_len(len);
    }
    written
}

fn redact_str(s: &mut String, secrets: &[Secret]) {
    for secret in secrets {
        if s.contains(&secret.raw) {
            *s = s.replace(&secret.raw, REDACTED);
        }
    }
}

/// Redacts every string and object key; numbers and structure are left alone.
fn redact_value(v: &mut Value, secrets: &[Secret]) {
    match v {
        Value::String(s) => redact_str(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|x| redact_value(x, secrets)),
        Value::Object(map) => {
            for (mut key, mut x) in std::mem::take(map) {
                redact_str(&mut key, secrets);
                redact_value(&mut x, secrets);
                map.insert(key, x);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Takes the exclusive lock on a journal, or says who holds it.
fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            path: path.to_path_buf(),
            holder: lock_holder(file),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(path)(e)),
    }
}

/// `pid N (command line)` of the process writing the journal at `path` (holding its lock), from
/// /proc/locks; `None` when no one is (the run ended, or its process died). Reads only.
pub fn writer_of(path: &Path) -> Option<String> {
    lock_holder(&File::open(path).ok()?)
}

/// `pid N (command line)` of the process holding a lock on `file`, from /proc/locks.
fn lock_holder(file: &File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    // /proc/locks shows `MAJOR:MINOR:INODE`, the numbers in hex (glibc's split of dev_t).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let exact = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let inode = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 1234 fd:01:56789 0 EOF`; waiters show `->` and hold nothing.
    let holders: Vec<(u32, bool)> = locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) == Some(&"->") {
                return None;
            }
            let at = fields
                .iter()
                .position(|f| f.matches(':').count() == 2 && f.ends_with(&inode))?;
            let pid = fields.get(at.checked_sub(1)?)?.parse::<u32>().ok()?;
            Some((pid, fields[at] == exact))
        })
        .collect();
    // The same inode on another device is another file: prefer an exact match.
    let pid = holders
        .iter()
        .find(|h| h.1)
        .or(holders.first().filter(|_| holders.len() == 1))?
        .0;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(if cmdline.is_empty() {
        format!("pid {pid}")
    } else {
        let short: String = cmdline.chars().take(200).collect();
        format!("pid {pid} ({short})")
    })
}

/// Copies the journal to the first free `<journal>.broken`, `.broken.2`, …; never overwrites one.
fn keep_broken_copy(file: &File, path: &Path) -> Result<PathBuf, JournalError> {
    let mut source = file;
    for n in 1..=1000u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(".broken");
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let copy = PathBuf::from(name);
        let mut out = match OpenOptions::new().write(true).create_new(true).open(&copy) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&copy)(e)),
        };
        source.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
        io::copy(&mut source, &mut out).map_err(io_err(&copy))?;
        out.sync_all().map_err(io_err(&copy))?;
        return Ok(copy);
    }
    Err(JournalError::Io {
        path: path.to_path_buf(),
        source: io::Error::other("1000 .broken copies exist already: clear them out first"),
    })
}

/// What reading a journal found.
#[derive(Debug)]
pub struct Journal {
    pub events: Vec<Envelope>,
    /// A torn last line (a write cut short by a crash, or one still being written), skipped.
    pub torn: Option<TornTail>,
}

/// The last line of a journal, skipped because it is incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// Reads a whole journal into memory without modifying it. A last line that does not parse or has
/// no newline (a torn write) is skipped and reported in [`Journal::torn`]; a bad line anywhere else
/// is refused with its number. Holds every envelope: for tests and small journals only; every
/// command streams through [`Reader`] (or [`Tail`]) instead.
pub fn read(path: &Path) -> Result<Journal, JournalError> {
    let mut reader = Reader::open(path)?;
    let events = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Journal {
        events,
        torn: reader.torn().cloned(),
    })
}

/// The one journal reader: a stream of records in file order, memory independent of the journal's
/// length. It never writes. A torn last line (no newline, or does not parse, with nothing after it)
/// ends the stream and is reported by [`Reader::torn`]; a bad line followed by more data is
/// [`JournalError::Corrupt`], after which the stream ends.
///
/// As an [`Iterator`] it yields whole [`Envelope`]s. [`Reader::next_record`] is the fast path for
/// folds: metric samples, nearly every line of a long run, come back as a borrowed
/// [`SampleRecord`] parsed without building an `Envelope`; every other record as its `Envelope`.
/// [`Tail`] is the same reader for a journal still being written.
pub struct Reader {
    lines: BufReader<File>,
    path: PathBuf,
    line_no: usize,
    whole_len: u64,
    torn: Option<TornTail>,
    done: bool,
    buf: Vec<u8>,
    scratch: SampleScratch,
}

/// A metric sample as read from its line by [`Reader::next_record`], borrowed from the reader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRecord<'a> {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub run: &'a str,
    pub metric: &'a str,
    pub value: Option<f64>,
    pub error: Option<&'a str>,
}

impl SampleRecord<'_> {
    pub fn to_envelope(&self) -> Envelope {
        Envelope {
            seq: self.seq,
            ts: self.ts,
            run: self.run.to_string(),
            event: Event::Sample {
                metric: self.metric.to_string(),
                value: self.value,
                error: self.error.map(str::to_string),
            },
        }
    }
}

/// One journal record: a sample (the fast path) or any other event, whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Sample(SampleRecord<'a>),
    Event(Box<Envelope>),
}

impl Record<'_> {
    pub fn into_envelope(self) -> Envelope {
        match self {
            Record::Sample(s) => s.to_envelope(),
            Record::Event(e) => *e,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Record::Sample(s) => s.seq,
            Record::Event(e) => e.seq,
        }
    }

    pub fn ts(&self) -> DateTime<Utc> {
        match self {
            Record::Sample(s) => s.ts,
            Record::Event(e) => e.ts,
        }
    }
}

/// The fields of a sample line, borrowed from the line where no unescaping is needed.
#[derive(serde::Deserialize)]
struct SampleLine<'a> {
    seq: u64,
    #[serde(borrow)]
    ts: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    run: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    m: std::borrow::Cow<'a, str>,
    #[serde(default)]
    v: Option<f64>,
    #[serde(default, borrow)]
    err: Option<std::borrow::Cow<'a, str>>,
}

/// The last sample read, owned by the reader (its strings are reused from line to line).
#[derive(Debug, Default)]
struct SampleScratch {
    seq: u64,
    ts: DateTime<Utc>,
    run: String,
    metric: String,
    value: Option<f64>,
    error: Option<String>,
    /// The date part of the last timestamp parsed, and its day.
    day: Option<([u8; 10], chrono::NaiveDate)>,
}

impl SampleScratch {
    /// Fills the scratch from a sample line; false when the line is not a sample (or is one the
    /// full parse must judge).
    fn fill(&mut self, line: &[u8]) -> bool {
        let Ok(s) = serde_json::from_slice::<SampleLine>(line) else {
            return false;
        };
        if s.kind != "sample" {
            return false;
        }
        let Some(ts) = self.parse_ts(&s.ts) else {
            return false;
        };
        self.seq = s.seq;
        self.ts = ts;
        if self.run != s.run {
            self.run.clear();
            self.run.push_str(&s.run);
        }
        self.metric.clear();
        self.metric.push_str(&s.m);
        self.value = s.v;
        match (&mut self.error, s.err) {
            (Some(e), Some(new)) => {
                e.clear();
                e.push_str(&new);
            }
            (slot, new) => *slot = new.map(|e| e.into_owned()),
        }
        true
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` as the writer writes it, quickly; anything else as RFC 3339.
    fn parse_ts(&mut self, text: &str) -> Option<DateTime<Utc>> {
        let b = text.as_bytes();
        let fixed = b.len() == 24
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'.'
            && b[23] == b'Z';
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
            })
        };
        if fixed {
            let mut date_part = [0u8; 10];
            date_part.copy_from_slice(&b[..10]);
            let date = match self.day {
                Some((d, day)) if d == date_part => Some(day),
                _ => {
                    let day = chrono::NaiveDate::from_ymd_opt(
                        digits(0..4)? as i32,
                        digits(5..7)?,
                        digits(8..10)?,
                    );
                    if let Some(day) = day {
                        self.day = Some((date_part, day));
                    }
                    day
                }
            };
            if let Some(t) = date.and_then(|d| {
                d.and_hms_milli_opt(
                    digits(11..13)?,
                    digits(14..16)?,
                    digits(17..19)?,
                    digits(20..23)?,
                )
            }) {
                return Some(t.and_utc());
            }
        }
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn record(&self) -> SampleRecord<'_> {
        SampleRecord {
            seq: self.seq,
            ts: self.ts,
            run: &self.run,
            metric: &self.metric,
            value: self.value,
            error: self.error.as_deref(),
        }
    }
}

/// What one line turned out to be; a sample's fields are in the reader's scratch.
enum Parsed {
    Sample,
    Event(Box<Envelope>),
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, JournalError> {
        let file = File::open(path).map_err(io_err(path))?;
        Ok(Reader::from_file(file, path))
    }

    fn from_file(file: File, path: &Path) -> Reader {
        Reader {
            lines: BufReader::with_capacity(1 << 16, file),
            path: path.to_path_buf(),
            line_no: 0,
            whole_len: 0,
            torn: None,
            done: false,
            buf: Vec::new(),
            scratch: SampleScratch::default(),
        }
    }

    /// The torn last line that was skipped, once the stream has ended.
    pub fn torn(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Bytes of whole, readable lines so far.
    pub fn whole_len(&self) -> u64 {
        self.whole_len
    }

    /// Lines read so far.
    pub fn lines(&self) -> usize {
        self.line_no
    }

    /// The path being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_line(&mut self) -> Result<usize, JournalError> {
        self.buf.clear();
        let path = &self.path;
        self.lines
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| JournalError::Io {
                path: path.clone(),
                source: e,
            })
    }

    /// The line in `buf`: a sample (into the scratch) or an envelope, or why it does not parse.
    fn parse(&mut self) -> Result<Parsed, String> {
        if self.scratch.fill(&self.buf) {
            return Ok(Parsed::Sample);
        }
        serde_json::from_slice::<Envelope>(&self.buf)
            .map(|e| Parsed::Event(Box::new(e)))
            .map_err(|e| e.to_string())
    }

    fn to_record(&self, parsed: Parsed) -> Record<'_> {
        match parsed {
            Parsed::Sample => Record::Sample(self.scratch.record()),
            Parsed::Event(e) => Record::Event(e),
        }
    }

    /// The next record (see the type's doc); `None` at the end of the stream.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, JournalError>> {
        match self.advance()? {
            Ok(p) => Some(Ok(self.to_record(p))),
            Err(e) => Some(Err(e)),
        }
    }

    fn advance(&mut self) -> Option<Result<Parsed, JournalError>> {
        if self.done {
            return None;
        }
        let n = match self.next_line() {
            Ok(0) => {
                self.done = true;
                return None;
            }
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.line_no += 1;
        let complete = self.buf.ends_with(b"\n");
        let reason = match self.parse() {
            Ok(p) if complete => {
                self.whole_len = self.whole_len.saturating_add(n as u64);
                return Some(Ok(p));
            }
            Ok(_) => "line has no newline: torn write".to_string(),
            Err(e) => e,
        };
        // A bad line: torn if nothing follows it, damage in the middle otherwise.
        let bad_line = self.line_no;
        self.done = true;
        match self.next_line() {
            Ok(0) => {
                self.torn = Some(TornTail {
                    line: bad_line,
                    reason,
                });
                None
            }
            Ok(_) => Some(Err(JournalError::Corrupt {
                path: self.path.clone(),
                line: bad_line,
                reason,
            })),
            Err(e) => Some(Err(e)),
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Envelope, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_record()?.map(Record::into_envelope))
    }
}

/// The reader for a journal that is still being written (`follow`): [`Tail::poll`] returns the
/// next whole record written so far, or `None` when there is none yet. A line without its newline
/// is never consumed: the tail goes back to the end of the last whole line and reads it again on
/// the next poll, so a torn write that the writer cuts back and replaces is read as the
/// replacement, whole. It never writes.
pub struct Tail {
    reader: Reader,
}

impl Tail {
    pub fn open(path: &Path) -> Result<Tail, JournalError> {
        Ok(Tail {
            reader: Reader::open(path)?,
        })
    }

    /// The next whole record, `None` if there is none yet (call again later). A whole line that
    /// does not parse is [`JournalError::Corrupt`] with its number and is skipped: the tail goes on.
    pub fn poll(&mut self) -> Option<Result<Envelope, JournalError>> {
        let r = &mut self.reader;
        let n = match r.next_line() {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        if !r.buf.ends_with(b"\n") {
            // Still being written (or torn): read it again, whole, on a later poll.
            return match r.lines.seek(SeekFrom::Start(r.whole_len)) {
                Ok(_) => None,
                Err(e) => Some(Err(io_err(&r.path)(e))),
            };
        }
        r.line_no += 1;
        r.whole_len = r.whole_len.saturating_add(n as u64);
        Some(match r.parse() {
            Ok(p) => Ok(r.to_record(p).into_envelope()),
            Err(reason) => Err(JournalError::Corrupt {
                path: r.path.clone(),
                line: r.line_no,
                reason,
            }),
        })
    }

    /// Bytes of whole lines read so far: where the next poll starts.
    pub fn offset(&self) -> u64 {
        self.reader.whole_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::MilestoneKind;

    fn write_three(path: &Path) {
        let mut w = JournalWriter::create(path, "r1").unwrap();
        for _ in 0..3 {
            w.append(
                Utc::now(),
                Event::Milestone {
                    kind: MilestoneKind::Detected,
                    role: "ic".into(),
                },
            )
            .unwrap();
        }
    }

    #[test]
    fn round_trips_with_seq_and_run() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        let j = read(&p).unwrap();
        assert_eq!(
            j.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(j.events.iter().all(|e| e.run == "r1"));
        assert!(j.torn.is_none());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.lines().next().unwrap().contains(r#""ts":""#));
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        assert!(JournalWriter::create(&p, "r2").is_err());
    }

    fn tear(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn the_writer_repairs_a_torn_tail_and_keeps_every_copy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        tear(&p, br#"{"seq":4,"ts":"2026-11-2"#);
        let first_torn = std::fs::read(&p).unwrap();

        let mut w = JournalWriter::append_to(&p).unwrap();
        let broken = p.with_extension("jsonl.broken");
        assert_eq!(w.repaired(), Some(broken.as_path()));
        assert_eq!(
            std::fs::read(&broken).unwrap(),
            first_torn,
            ".broken keeps the original"
        );
        let env = w.append(Utc::now(), Event::RunEnded).unwrap();
        assert_eq!(env.seq, 5, "seq 4 may be in the torn line: never reused");
        drop(w);
        let j = read(&p).unwrap();
        assert!(j.torn.is_none());
        assert_eq!(
            j.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 5]
        );

        // A second torn tail gets a copy of its own; the first copy is left as it was.
        tear(&p, b"{\"seq\":6");
        let second_torn = std::fs::read(&p).unwrap();
        let w = JournalWriter::append_to(&p).unwrap();
        let second = p.with_extension("jsonl.broken.2");
        assert_eq!(w.repaired(), Some(second.as_path()));
        assert_eq!(std::fs::read(&second).unwrap(), second_torn);
        assert_eq!(std::fs::read(&broken).unwrap(), first_torn);
    }

    #[test]
    fn a_second_writer_is_refused_and_told_who_holds_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, "r1").unwrap();
        w.append(Utc::now(), Event::RunEnded).unwrap();
        // A torn tail the live writer is still writing: a refused writer must not "repair" it.
        tear(&p, b"{\"seq\":2");
        let before = std::fs::read(&p).unwrap();
        match JournalWriter::append_to(&p) {
            Err(JournalError::Locked { holder, .. }) => {
                let holder = holder.expect("the holder is found in /proc/locks");
                let me = format!("pid {} (", std::process::id());
                assert!(holder.starts_with(&me), "{holder}");
            }
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a second writer was let in"),
        }
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "a refused writer touched the journal"
        );
        assert!(!p.with_extension("jsonl.broken").exists());
        drop(w);
        assert!(
            JournalWriter::append_to(&p).is_ok(),
            "the lock goes with the writer"
        );
    }

    #[test]
    fn secrets_are_redacted_in_the_journal_and_in_what_append_returns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let token = "tok-3f9a";
        // Written escaped inside a JSON string: `pa\"ss\\word\n`.
        let tricky = "pa\"ss\\word\n";
        let mut w = JournalWriter::create(&p, "r1").unwrap();
        w.redact(vec![String::new(), token.into(), tricky.into()]);
        let injected = w
            .append(
                Utc::now(),
                Event::FaultInjected {
                    fault: "f".into(),
                    host: "h".into(),
                    ok: false,
                    outcome: crate::event::CommandOutcome {
                        exit: Some(1),
                        stderr: format!("curl: 401 for Bearer {token}; password {tricky}!"),
                        ..Default::default()
                    },
                },
            )
            .unwrap();
        let sample = w
            .append(
                Utc::now(),
                Event::Sample {
                    metric: "m".into(),
                    value: None,
                    error: Some(format!("GET https://u:{token}@127.0.0.1/ failed")),
                },
            )
            .unwrap();
        w.append(Utc::now(), Event::RunEnded).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let escaped = serde_json::to_string(tricky).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        for needle in [token, tricky, escaped] {
            assert!(
                !text.contains(needle),
                "{needle:?} reached the journal:\n{text}"
            );
        }
        match &injected.event {
            Event::FaultInjected { outcome, .. } => assert_eq!(
                outcome.stderr,
                "curl: 401 for Bearer [REDACTED]; password [REDACTED]!"
            ),
            other => panic!("{other:?}"),
        }
        match &sample.event {
            Event::Sample { error, .. } => assert_eq!(
                error.as_deref(),
                Some("GET https://u:[REDACTED]@127.0.0.1/ failed")
            ),
            other => panic!("{other:?}"),
        }
        let j = read(&p).unwrap();
        assert_eq!(
            j.events[0], injected,
            "append returns what the journal holds"
        );
        assert_eq!(j.events[1], sample);
        assert_eq!(w.unjournaled(), 0);
    }

    #[test]
    fn refuses_corruption_in_the_middle_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "{\"seq\":2, garbage";
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        let before = std::fs::read(&p).unwrap();
        match read(&p) {
            Err(JournalError::Corrupt { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected Corrupt at line 2, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "a refused journal is not modified"
        );
    }

    /// A small tmpfs mounted for one test, unmounted when dropped.
    struct Tmpfs(tempfile::TempDir);

    impl Tmpfs {
        /// `None` (with a message) where mounting is not allowed: the test is then skipped.
        fn mount(size: &str) -> Option<Tmpfs> {
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("skipped: cannot mount a tmpfs here (needs root)");
                return None;
            }
            Some(Tmpfs(dir))
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.0.path())
                .status();
        }
    }

    fn note(text: String) -> Event {
        Event::Note {
            role: "ic".into(),
            text,
            action: false,
            kind: None,
            owner: None,
            due: None,
            metrics: Default::default(),
            faults: vec![],
        }
    }

    /// Fills the file system `dir` is on until a write fails.
    fn fill(dir: &Path) -> PathBuf {
        let filler = dir.join("filler");
        let mut f = File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.write_all(&[0]);
        filler
    }

    /// The side file's name in the shared temporary directory is guessable: a file another
    /// user made there first is not written to (needs root to make a file of `nobody`).
    #[test]
    fn a_side_file_of_another_user_is_not_written() {
        // SAFETY: geteuid cannot fail and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: needs root to make a file of another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("planted.unjournaled");
        std::fs::write(&p, "").unwrap();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        let e = append_whole_line(&p, "a record").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
        let mine = dir.path().join("mine.unjournaled");
        append_whole_line(&mine, "a record").unwrap();
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "a record\n");
    }

    #[test]
    fn a_full_disk_leaves_no_torn_line_and_loses_no_record() {
        let Some(fs) = Tmpfs::mount("64k") else {
            return;
        };
        let p = fs.0.path().join("j.jsonl");
        let run = format!("full-disk-{}", std::process::id());
        let fallback = std::env::temp_dir().join(format!("gameday-{run}.unjournaled"));
        let _ = std::fs::remove_file(&fallback);
        let mut w = JournalWriter::create(&p, &run).unwrap();
        w.append(Utc::now(), note("one".into())).unwrap();
        w.append(Utc::now(), note("two".into())).unwrap();
        let filler = fill(fs.0.path());

        // Bigger than what is left of the journal's last page: part of it is written, then ENOSPC.
        let big = format!("lost-note {}", "y".repeat(20_000));
        assert!(w.append(Utc::now(), note(big.clone())).is_err());
        assert_eq!(w.unjournaled(), 1);
        assert!(
            std::fs::metadata(&p).unwrap().len() > 200,
            "the failed write was partial (the case under test)"
        );

        std::fs::remove_file(&filler).unwrap();
        w.append(Utc::now(), note("after".into())).unwrap();
        let j = read(&p).expect("the journal reads clean after a failed write");
        let seqs: Vec<u64> = j.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 4], "the failed attempt consumed seq 3");
        assert!(j.events.windows(2).all(|w| w[0].seq < w[1].seq));

        let side = PathBuf::from(format!("{}.unjournaled", p.display()));
        let kept: String = [&side, &fallback]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        let _ = std::fs::remove_file(&fallback);
        let line = kept
            .lines()
            .find(|l| l.contains("lost-note"))
            .expect("the failed record is kept in the side file");
        let env: Envelope = serde_json::from_str(line).unwrap();
        assert_eq!((env.seq, env.event), (3, note(big)));
    }

    #[test]
    fn reading_a_torn_journal_changes_no_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"seq":4,"ts":"2026-11-2"#).unwrap();
        drop(f);
        let before = std::fs::read(&p).unwrap();
        let j = read(&p).unwrap();
        assert_eq!(j.events.len(), 3);
        assert_eq!(j.torn.map(|t| t.line), Some(4), "the torn line is reported");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            before,
            "the reader modified the journal"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["j.jsonl"], "the reader created files");
    }

    #[test]
    fn a_non_finite_threshold_is_refused_not_written_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, "r1").unwrap();
        w.append(Utc::now(), Event::RunEnded).unwrap();
        let mut scenario = crate::event::hostile::scenario();
        scenario.abort[0].condition = crate::scenario::Condition::Between(f64::NEG_INFINITY, 100.0);
        scenario.title = "pager password hunter2".into();
        let started = Event::RunStarted {
            scenario: Box::new(scenario),
            gameday_version: "t".into(),
            dry_run: None,
        };
        w.redact(vec!["hunter2".into()]);
        match w.append(Utc::now(), started) {
            Err(JournalError::Unreadable { seq: 2, .. }) => {}
            other => panic!(
                "expected Unreadable for seq 2, got {:?}",
                other.map(|e| e.seq)
            ),
        }
        w.append(Utc::now(), Event::RunEnded).unwrap();
        let j = read(&p).expect("every line the writer wrote reads back");
        assert_eq!(j.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(w.unjournaled(), 1);
        let side = p.with_extension("jsonl.unjournaled");
        assert_eq!(w.unjournaled_files(), std::slice::from_ref(&side));
        let kept = std::fs::read_to_string(&side).unwrap();
        assert!(
            kept.contains(r#""seq":2"#) && kept.contains("run_started"),
            "{kept}"
        );
        assert!(!kept.contains("hunter2"), "the side file is redacted too");
    }

    #[test]
    fn the_sample_fast_path_reads_what_the_full_parse_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, "r\"1").unwrap();
        let samples = [
            (Some(1.5), None),
            (None, Some("GET \"/x\" failed:\n\u{2028} 503".to_string())),
            (Some(-0.0), Some("partial".to_string())),
            (Some(1e300), None),
            (Some(42.0), None),
        ];
        for (value, error) in samples.clone() {
            w.append(
                Utc::now(),
                Event::Sample {
                    metric: "m\\é".into(),
                    value,
                    error,
                },
            )
            .unwrap();
        }
        w.append(Utc::now(), Event::RunEnded).unwrap();
        drop(w);
        let mut text = std::fs::read_to_string(&p).unwrap();
        // Written by hand: RFC 3339 with an offset and no millis, fields in another order, an
        // unknown field; the fast path must agree with the full parse on each.
        text.push_str(r#"{"type":"sample","m":"x","seq":8,"run":"r","ts":"2026-11-23T17:00:00+01:00","extra":[1]}"#);
        text.push('\n');
        text.push_str(
            r#"{"seq":9,"ts":"2026-11-23T16:00:00.5Z","run":"r","type":"sample","m":"x","v":3}"#,
        );
        text.push('\n');
        std::fs::write(&p, &text).unwrap();
        let mut reader = Reader::open(&p).unwrap();
        let mut fast = vec![];
        while let Some(r) = reader.next_record() {
            let r = r.unwrap();
            assert_eq!(
                matches!(r, Record::Sample(_)),
                r.seq() != 6,
                "seq {} took the wrong path",
                r.seq()
            );
            fast.push(r.into_envelope());
        }
        let full: Vec<Envelope> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(fast, full);
        assert_eq!(fast.len(), 8);
    }

    #[test]
    fn a_tail_never_consumes_a_line_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&p, format!("{}\n{}", lines[0], &lines[1][..10])).unwrap();
        let before = std::fs::read(&p).unwrap();
        let mut tail = Tail::open(&p).unwrap();
        assert_eq!(tail.poll().unwrap().unwrap().seq, 1);
        assert!(tail.poll().is_none(), "half a line is not a record");
        assert!(tail.poll().is_none());
        assert_eq!(tail.offset(), lines[0].len() as u64 + 1);
        assert_eq!(std::fs::read(&p).unwrap(), before, "the tail wrote");
        // The writer finishes the line, then writes garbage and one more.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        write!(f, "{}\nnot json\n{}\n", &lines[1][10..], lines[2]).unwrap();
        assert_eq!(tail.poll().unwrap().unwrap().seq, 2);
        match tail.poll() {
            Some(Err(JournalError::Corrupt { line: 3, .. })) => {}
            other => panic!("expected line 3 corrupt, got {other:?}"),
        }
        assert_eq!(tail.poll().unwrap().unwrap().seq, 3, "the tail goes on");
        assert!(tail.poll().is_none());
    }

    #[test]
    fn every_event_reads_back_as_written() {
        use crate::event::hostile;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, &hostile::text("run")).unwrap();
        let events = hostile::events();
        let ts = Utc::now();
        let mut returned = vec![];
        for e in events.clone() {
            returned.push(w.append(ts, e).unwrap());
        }
        let j = read(&p).unwrap();
        assert_eq!(j.events.len(), events.len());
        for ((read_back, sent), returned) in j.events.iter().zip(events).zip(returned) {
            let expected = hostile::as_journaled(sent);
            // Plain asserts: a Debug of these events is megabytes long.
            let seq = read_back.seq;
            assert!(read_back.event == expected, "seq {seq}: read back differs");
            assert!(
                read_back == &returned,
                "seq {seq}: append returned something else than it wrote"
            );
            assert_eq!(read_back.run, hostile::text("run"));
        }
    }
    /// Group commit: with `group_sync`, results are written at once and synced together by
    /// `sync_pending`; every other safety record is synced before `append` returns (taking the
    /// results before it along); records that are not safety records are never synced.
    #[test]
    fn results_share_one_sync_and_everything_else_syncs_at_once() {
        use crate::event::hostile;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, "r").unwrap();
        let events = hostile::events();
        let results: Vec<Event> = events.iter().filter(|e| e.shares_sync()).cloned().collect();
        let other = events
            .iter()
            .find(|e| e.is_safety_record() && !e.shares_sync())
            .cloned()
            .unwrap();
        let plain = events
            .iter()
            .find(|e| !e.is_safety_record())
            .cloned()
            .unwrap();
        assert!(results.len() >= 3, "rollback, criterion and step results");
        let ts = Utc::now();
        // Without group sync (recover, tests): one sync per safety record.
        let before = w.syncs();
        w.append(ts, results[0].clone()).unwrap();
        assert_eq!(w.syncs(), before + 1);
        w.group_sync(true);
        let before = w.syncs();
        for r in &results {
            w.append(ts, r.clone()).unwrap();
        }
        w.append(ts, plain.clone()).unwrap();
        assert_eq!(w.syncs(), before, "results wait for the end of the turn");
        w.sync_pending().unwrap();
        assert_eq!(w.syncs(), before + 1, "one sync for all of them");
        w.sync_pending().unwrap();
        assert_eq!(w.syncs(), before + 1, "nothing pending: no sync");
        w.append(ts, results[0].clone()).unwrap();
        w.append(ts, other).unwrap();
        assert_eq!(
            w.syncs(),
            before + 2,
            "an intent, halt or verdict syncs at once"
        );
        w.sync_pending().unwrap();
        assert_eq!(w.syncs(), before + 2, "and took the result before it along");
        assert_eq!(read(&p).unwrap().events.len(), results.len() + 4);
    }
}
