//! The journal: append-only JSON Lines, one [`Envelope`] a line, the run's source of truth.
//!
//! Safety records (fault intent and result, halt, rollback, verdict) are fsync'd before `append`
//! returns, so a crash right after an inject still leaves the undo on disk. The reader repairs a torn
//! last line (a crash mid-write) and refuses damage anywhere else.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::event::{Envelope, Event};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}:{line}: corrupt journal line ({reason}); only a torn last line can be repaired, so this journal is refused: inspect it by hand"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: the journal is empty")]
    Empty { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct JournalWriter {
    file: File,
    path: PathBuf,
    run: String,
    next_seq: u64,
}

impl JournalWriter {
    /// Starts a new journal; refuses to overwrite an existing one.
    pub fn create(path: &Path, run: &str) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok(JournalWriter {
            file,
            path: path.to_path_buf(),
            run: run.to_string(),
            next_seq: 1,
        })
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

    /// Continues an existing journal (for `recover`): repairs a torn tail, returns what was there.
    pub fn append_to(path: &Path) -> Result<(Self, Vec<Envelope>), JournalError> {
        let read = read(path)?;
        let last = read.events.last().ok_or(JournalError::Empty {
            path: path.to_path_buf(),
        })?;
        let (run, next_seq) = (last.run.clone(), last.seq + 1);
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok((
            JournalWriter {
                file,
                path: path.to_path_buf(),
                run,
                next_seq,
            },
            read.events,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Writes one event as one line; safety records are synced to disk before this returns.
    pub fn append(&mut self, ts: DateTime<Utc>, event: Event) -> Result<Envelope, JournalError> {
        let env = Envelope {
            seq: self.next_seq,
            ts,
            run: self.run.clone(),
            event,
        };
        let mut line = serde_json::to_vec(&env).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        // One write call per line: a crash leaves at most one torn line, at the end.
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        if env.event.is_safety_record() {
            self.file.sync_data().map_err(io_err(&self.path))?;
        }
        self.next_seq += 1;
        Ok(env)
    }
}

/// What reading a journal found.
#[derive(Debug)]
pub struct Journal {
    pub events: Vec<Envelope>,
    /// Set when a torn last line was cut off; the original file was copied here first.
    pub repaired: Option<PathBuf>,
}

/// Reads a whole journal. A last line that does not parse (a write torn by a crash) is cut off after
/// the original is copied to `<journal>.broken`; a bad line anywhere else is refused with its number.
pub fn read(path: &Path) -> Result<Journal, JournalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::new(file);
    let mut events = Vec::new();
    let mut good_len: u64 = 0;
    let mut bad: Option<(usize, String)> = None;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some((bad_line, reason)) = bad.take() {
            // A bad line followed by more data is damage in the middle, not a torn tail.
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                line: bad_line,
                reason,
            });
        }
        let complete = buf.ends_with(b"\n");
        match serde_json::from_slice::<Envelope>(&buf) {
            Ok(env) if complete => {
                events.push(env);
                good_len += n as u64;
            }
            Ok(_) => bad = Some((line_no, "line has no newline: torn write".into())),
            Err(e) => bad = Some((line_no, e.to_string())),
        }
    }
    let mut repaired = None;
    if bad.is_some() {
        let broken = broken_path(path);
        std::fs::copy(path, &broken).map_err(io_err(&broken))?;
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(good_len).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))?;
        tracing::warn!(journal = %path.display(), copy = %broken.display(), "repaired a torn last line");
        repaired = Some(broken);
    }
    Ok(Journal { events, repaired })
}

fn broken_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".broken");
    PathBuf::from(name)
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
        assert!(j.repaired.is_none());
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

    #[test]
    fn repairs_a_torn_last_line_and_keeps_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        write_three(&p);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"seq":4,"ts":"2026-11-2"#).unwrap();
        drop(f);
        let torn = std::fs::read(&p).unwrap();

        let j = read(&p).unwrap();
        assert_eq!(j.events.len(), 3);
        let broken = j.repaired.expect("repair reported");
        assert_eq!(
            std::fs::read(&broken).unwrap(),
            torn,
            ".broken keeps the original"
        );
        // The repaired journal reads clean and can be appended to.
        let (mut w, events) = JournalWriter::append_to(&p).unwrap();
        assert_eq!(events.len(), 3);
        let env = w.append(Utc::now(), Event::RunEnded).unwrap();
        assert_eq!(env.seq, 4);
        assert_eq!(read(&p).unwrap().events.len(), 4);
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
}
