//! The run's seat socket: a second seat (`gameday join`) that can write.
//!
//! Every run listens on a Unix socket beside its journal ([`SOCKET`], mode 0600). A connection is
//! accepted only from the run's own user (the kernel's SO_PEERCRED, checked on every connection);
//! anyone else is refused, logged and journaled ([`Event::SeatRefused`]). The protocol is one JSON
//! object a line ([`Request`] in, [`Reply`] out, at most [`limits::MAX_SEAT_LINE`] bytes): a hello
//! with the seat's role and name, answered with what the seat may do ([`Reply::Welcome`]); then
//! notes, milestones, retractions and edits of the seat's own records, and — only when the run was
//! started with `--allow-remote-halt` and the seat joined with `--can-halt` — a halt. Observers
//! (the role `observer`, or a person the scenario's `roles` lists under observers) are read-only.
//!
//! What a seat sends reaches the engine as the same [`Command`]s the console sends, with the
//! seat's tag (`scribe Lee (seat 1)`) as the role or `by`; [`Event::SeatJoined`] maps the tag to
//! the peer's uid and pid. The engine never waits for a seat: a command goes in with `try_send`
//! (a full queue is a refusal the seat is told about; a granted halt waits for room, bounded, in
//! the seat's own task), and a seat that does not read its replies is dropped. A seat that leaves, however it leaves, changes nothing in the run.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::{Command, Handle};
use crate::event::{Event, MilestoneKind, NoteKind};
use crate::scenario::{Scenario, limits};

/// The socket's file name, in the run's directory (beside `journal.jsonl`).
pub const SOCKET: &str = "seat.sock";

/// What a seat sends: first a [`Request::Hello`], then any of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Hello {
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Asks for the halt; granted only when the run allows remote halts.
        #[serde(default)]
        can_halt: bool,
    },
    Note {
        text: String,
        #[serde(default)]
        kind: NoteKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<String>,
    },
    Milestone {
        kind: MilestoneKind,
    },
    /// Withdraw one of this seat's own notes or milestones, by its journal sequence number.
    Retract {
        seq: u64,
    },
    /// Rewrite one of this seat's own notes, by its journal sequence number.
    Edit {
        seq: u64,
        text: String,
        #[serde(default)]
        kind: NoteKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<String>,
    },
    Halt {
        reason: String,
    },
}

/// What the run answers, one line for each request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// The hello was accepted: the seat's number, the tag its records carry, what it may send
    /// (`note`, `milestone`, `retract`, `edit`, `halt`; empty: read-only) and the run's journal.
    Welcome {
        seat: u32,
        tag: String,
        may: Vec<String>,
        journal: PathBuf,
    },
    /// The request went to the run.
    Sent { what: String },
    /// The request was refused; nothing was sent to the run.
    Refused { why: String },
}

/// The seat socket of the run whose directory or journal is `run`.
pub fn socket_of(run: &Path) -> Result<PathBuf, String> {
    if run.is_dir() {
        Ok(run.join(SOCKET))
    } else if run.is_file() {
        Ok(run
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(SOCKET))
    } else {
        Err(
            "no such run: give the run's directory or its journal (the console's header shows it)"
                .into(),
        )
    }
}

/// Who may connect and what a seat may do: the run's side.
struct Seats {
    uid: u32,
    journal: PathBuf,
    scenario: Arc<Scenario>,
    /// Weak: a seat never keeps the engine's command channel open (a console that is gone must
    /// still let the engine see that no one can halt it).
    commands: mpsc::WeakSender<Command>,
    allow_remote_halt: bool,
    next: AtomicU32,
    refusals: AtomicU32,
    slots: Arc<tokio::sync::Semaphore>,
}

/// The socket file, removed when the server ends, and only if it is still the one we bound.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Opens the seat socket beside `journal` and serves it until the run ends (its `run_ended`, or
/// its event channel closing); the socket is removed then. A stale socket (or a symlink) left at
/// the path is replaced, never followed. Must be called inside a tokio runtime.
pub fn listen(
    journal: &Path,
    scenario: Arc<Scenario>,
    handle: &Handle,
    allow_remote_halt: bool,
) -> Result<(PathBuf, JoinHandle<()>), String> {
    let dir = journal
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = dir.join(SOCKET);
    let shown = path.display();
    match std::fs::symlink_metadata(&path) {
        Ok(m)
            if m.file_type().is_socket()
                && std::os::unix::net::UnixStream::connect(&path).is_ok() =>
        {
            // Another run journaling into the same directory is listening: leave it its seats.
            return Err(format!("{shown} is another live run's seat socket"));
        }
        Ok(m) if m.file_type().is_socket() || m.file_type().is_symlink() => {
            // Left by a run that was killed (the journal's lock says no run is live here), or a
            // symlink someone put there: the link itself is removed, never what it points to.
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot replace the stale {shown}: {e}"))?;
        }
        Ok(_) => {
            return Err(format!(
                "{shown} exists and is not a socket; remove it to let a second seat join"
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot check {shown}: {e}")),
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{shown}: {e}"))?;
    let file = SocketFile {
        path: path.clone(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot make {shown} owner-only: {e}"))?;
    let seats = Arc::new(Seats {
        // The socket is ours: its owner is the user this run runs as.
        uid: meta.uid(),
        // Absolute: a seat joins from any directory.
        journal: std::path::absolute(journal).unwrap_or_else(|_| journal.to_path_buf()),
        scenario,
        commands: handle.commands.downgrade(),
        allow_remote_halt,
        next: AtomicU32::new(1),
        refusals: AtomicU32::new(0),
        slots: Arc::new(tokio::sync::Semaphore::new(limits::MAX_SEATS)),
    });
    let events = handle.subscribe();
    let task = tokio::spawn(serve(listener, file, seats, events));
    tracing::info!(socket = %path.display(), "seat socket listening");
    Ok((path, task))
}

async fn serve(
    listener: UnixListener,
    file: SocketFile,
    seats: Arc<Seats>,
    mut events: tokio::sync::broadcast::Receiver<Arc<crate::event::Envelope>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    // Dropped (every seat's task aborted) when the run ends.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, seats.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "seat socket: accept failed");
                    // Out of descriptors, say: give the process a moment rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            ev = events.recv() => match ev {
                Ok(env) if matches!(env.event, Event::RunEnded) => break,
                Err(RecvError::Closed) => break,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(file);
}

/// Journals a seat record: waits (bounded) for room in the engine's queue, in this seat's own
/// task, so the record is not lost to a busy moment and the engine never waits for it.
async fn record(seats: &Seats, event: Event) {
    let Some(tx) = seats.commands.upgrade() else {
        return;
    };
    let sent = tokio::time::timeout(
        limits::SEAT_WRITE_TIMEOUT,
        tx.send(Command::Seat(Box::new(event))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::warn!("a seat record could not be journaled: the run is busy or has ended");
    }
}

/// Sends `cmd` to the engine without ever waiting for it.
fn forward(seats: &Seats, cmd: Command) -> Result<(), String> {
    let Some(tx) = seats.commands.upgrade() else {
        return Err("the run has ended".into());
    };
    tx.try_send(cmd).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => "the run is busy; send it again".to_string(),
        mpsc::error::TrySendError::Closed(_) => "the run has ended".to_string(),
    })
}

/// A granted halt: waits (at most `SEAT_WRITE_TIMEOUT`, in this seat's own task) for room in the
/// engine's queue, so the big red button is not refused because the run is busy at that moment. The
/// engine never waits for it; every other request is refused at once when the queue is full.
async fn forward_halt(seats: &Seats, cmd: Command) -> Result<(), String> {
    let Some(tx) = seats.commands.upgrade() else {
        return Err("the run has ended".into());
    };
    match tokio::time::timeout(limits::SEAT_WRITE_TIMEOUT, tx.send(cmd)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("the run has ended".into()),
        Err(_) => Err(format!(
            "the run stayed busy for {}: the halt was not sent; press X again or ask the IC",
            crate::fmt::duration(limits::SEAT_WRITE_TIMEOUT)
        )),
    }
}

async fn connection(stream: UnixStream, seats: Arc<Seats>) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "seat socket: no peer credentials; connection dropped");
            return;
        }
    };
    let (uid, pid) = (cred.uid(), cred.pid());
    let (read, mut write) = stream.into_split();
    if uid != seats.uid {
        let why = format!(
            "this run belongs to uid {}; a seat must run as the same user",
            seats.uid
        );
        refuse(&seats, uid, pid, &why).await;
        let _ = reply(&mut write, &Reply::Refused { why }).await;
        return;
    }
    let Ok(_slot) = seats.slots.clone().try_acquire_owned() else {
        let why = format!("{} seats are connected already", limits::MAX_SEATS);
        refuse(&seats, uid, pid, &why).await;
        let _ = reply(&mut write, &Reply::Refused { why }).await;
        return;
    };
    let mut read = BufReader::new(read);
    let hello = tokio::time::timeout(limits::SEAT_HELLO_TIMEOUT, read_line(&mut read)).await;
    let (role, name, can_halt) = match hello.map(|l| l.and_then(|l| parse(&l))) {
        Ok(Ok(Request::Hello {
            role,
            name,
            can_halt,
        })) => (role, name, can_halt),
        // Connected and closed without a byte: another run checking whether this socket is
        // live, or a probe. Not a seat; not journaled.
        Ok(Err(e)) if e == CLOSED => {
            tracing::info!(
                uid,
                ?pid,
                "seat socket: a connection closed before its hello"
            );
            return;
        }
        other => {
            let why = match other {
                Err(_) => "no hello within the time allowed".to_string(),
                Ok(Err(e)) => e,
                Ok(Ok(_)) => "the first request must be a hello".to_string(),
            };
            refuse(&seats, uid, pid, &why).await;
            let _ = reply(&mut write, &Reply::Refused { why }).await;
            return;
        }
    };
    if let Err(why) = check_name("role", &role)
        .and_then(|()| name.as_deref().map_or(Ok(()), |n| check_name("name", n)))
    {
        refuse(&seats, uid, pid, &why).await;
        let _ = reply(&mut write, &Reply::Refused { why }).await;
        return;
    }
    let seat = seats.next.fetch_add(1, Ordering::Relaxed);
    let tag = match &name {
        Some(n) => format!("{role} {n} (seat {seat})"),
        None => format!("{role} (seat {seat})"),
    };
    let observer = is_observer(&seats.scenario, &role, name.as_deref());
    let may: Vec<String> = if observer {
        vec![]
    } else {
        let mut may = vec!["note", "milestone", "retract", "edit"];
        if can_halt && seats.allow_remote_halt {
            may.push("halt");
        }
        may.into_iter().map(String::from).collect()
    };
    tracing::info!(seat, %tag, uid, ?pid, "a seat joined");
    record(
        &seats,
        Event::SeatJoined {
            seat,
            tag: tag.clone(),
            role: role.clone(),
            name: name.clone(),
            uid,
            pid,
            may: may.clone(),
        },
    )
    .await;
    let welcome = Reply::Welcome {
        seat,
        tag: tag.clone(),
        may: may.clone(),
        journal: seats.journal.clone(),
    };
    let why_left = match reply(&mut write, &welcome).await {
        Err(e) => e,
        Ok(()) => loop {
            let line = match read_line(&mut read).await {
                Ok(l) => l,
                Err(e) => break e,
            };
            let answer = match parse(&line) {
                Ok(req) => answer(&seats, &tag, &may, can_halt, req).await,
                Err(why) => Reply::Refused { why },
            };
            if let Err(e) = reply(&mut write, &answer).await {
                break e;
            }
        },
    };
    tracing::info!(seat, %tag, why = %why_left, "a seat left");
    record(
        &seats,
        Event::SeatLeft {
            seat,
            reason: why_left,
        },
    )
    .await;
}

/// The role `observer`, or a person the scenario lists under observers.
fn is_observer(scenario: &Scenario, role: &str, name: Option<&str>) -> bool {
    scenario.seat_of(role) == Some("observer")
        || name.is_some_and(|n| scenario.seat_of(n) == Some("observer"))
}

fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if s.chars().count() > limits::MAX_SEAT_NAME {
        return Err(format!(
            "the {what} is longer than {} characters",
            limits::MAX_SEAT_NAME
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("the {what} has control characters"));
    }
    Ok(())
}

fn check_text(what: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if s.chars().count() > limits::MAX_SEAT_TEXT {
        return Err(format!(
            "the {what} is longer than {} characters",
            limits::MAX_SEAT_TEXT
        ));
    }
    Ok(())
}

async fn refuse(seats: &Seats, uid: u32, pid: Option<i32>, why: &str) {
    tracing::warn!(uid, ?pid, why, "seat socket: connection refused");
    if seats.refusals.fetch_add(1, Ordering::Relaxed) < limits::MAX_SEAT_REFUSALS_JOURNALED {
        record(
            seats,
            Event::SeatRefused {
                uid,
                pid,
                reason: why.to_string(),
            },
        )
        .await;
    }
}

/// One request of a seat that joined → its reply (the command is sent when allowed).
async fn answer(seats: &Seats, tag: &str, may: &[String], can_halt: bool, req: Request) -> Reply {
    let allowed = |what: &str| may.iter().any(|m| m == what);
    let (what, cmd) = match req {
        Request::Hello { .. } => {
            return Reply::Refused {
                why: "this seat has joined already".into(),
            };
        }
        _ if may.is_empty() => {
            return Reply::Refused {
                why: "an observer's seat is read-only".into(),
            };
        }
        Request::Halt { .. } if !allowed("halt") => {
            let why = if !can_halt {
                "this seat did not join with --can-halt"
            } else {
                "the run was not started with --allow-remote-halt: only its console can halt it"
            };
            return Reply::Refused { why: why.into() };
        }
        Request::Halt { reason } => {
            if let Err(why) = check_text("reason", &reason) {
                return Reply::Refused { why };
            }
            (
                "halt",
                Command::Halt {
                    by: tag.to_string(),
                    reason,
                },
            )
        }
        Request::Note {
            text,
            kind,
            owner,
            due,
        } => {
            if let Err(why) = check_text("note", &text).and_then(|()| check_extra(&owner, &due)) {
                return Reply::Refused { why };
            }
            (
                "note",
                Command::NoteOf {
                    role: tag.to_string(),
                    text,
                    kind,
                    owner,
                    due,
                },
            )
        }
        Request::Milestone { kind } => (
            "milestone",
            Command::Milestone {
                kind,
                role: tag.to_string(),
            },
        ),
        Request::Retract { seq } => {
            if let Err(why) = own_record(seats, seq, tag, true).await {
                return Reply::Refused { why };
            }
            (
                "retraction",
                Command::Retract {
                    seq,
                    role: tag.to_string(),
                },
            )
        }
        Request::Edit {
            seq,
            text,
            kind,
            owner,
            due,
        } => {
            if let Err(why) = check_text("note", &text).and_then(|()| check_extra(&owner, &due)) {
                return Reply::Refused { why };
            }
            if let Err(why) = own_record(seats, seq, tag, false).await {
                return Reply::Refused { why };
            }
            (
                "edit",
                Command::EditNote {
                    edits: seq,
                    role: tag.to_string(),
                    text,
                    kind,
                    owner,
                    due,
                },
            )
        }
    };
    let sent = if what == "halt" {
        forward_halt(seats, cmd).await
    } else {
        forward(seats, cmd)
    };
    match sent {
        Ok(()) => Reply::Sent { what: what.into() },
        Err(why) => Reply::Refused { why },
    }
}

fn check_extra(owner: &Option<String>, due: &Option<String>) -> Result<(), String> {
    if let Some(o) = owner {
        check_name("owner", o)?;
    }
    if let Some(d) = due
        && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
    {
        return Err(format!("due date `{}` is not YYYY-MM-DD", d.escape_debug()));
    }
    Ok(())
}

/// Whether journal record `seq` is a note (or, for a retraction, a milestone) this seat wrote.
/// Read from the journal (streamed, off the runtime's threads): the seat's own records are
/// exactly those journaled with its tag.
async fn own_record(seats: &Seats, seq: u64, tag: &str, milestones: bool) -> Result<(), String> {
    let journal = seats.journal.clone();
    let tag = tag.to_string();
    let found = tokio::task::spawn_blocking(move || -> Result<Option<Event>, String> {
        let mut reader = crate::journal::Reader::open(&journal).map_err(|e| e.to_string())?;
        while let Some(r) = reader.next_record() {
            let r = r.map_err(|e| e.to_string())?;
            if r.seq() == seq {
                return Ok(Some(r.into_envelope().event));
            }
        }
        Ok(None)
    })
    .await
    .map_err(|e| format!("cannot read the journal: {e}"))??;
    match found {
        Some(Event::Note { role, .. }) if role == tag => Ok(()),
        Some(Event::Milestone { role, .. }) if milestones && role == tag => Ok(()),
        Some(Event::Note { .. } | Event::Milestone { .. }) => Err(format!(
            "record #{seq} is not this seat's: a seat changes only its own"
        )),
        Some(_) => Err(format!(
            "record #{seq} is not a note{}",
            if milestones { " or a milestone" } else { "" }
        )),
        None => Err(format!("there is no record #{seq} in the journal")),
    }
}

/// Why a read ended: the peer closed between lines.
const CLOSED: &str = "closed the connection";

/// One line, at most [`limits::MAX_SEAT_LINE`] bytes; the end of the stream is an error.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<String, String> {
    let mut line = Vec::new();
    loop {
        let buf = r
            .fill_buf()
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if buf.is_empty() {
            return Err(if line.is_empty() {
                CLOSED.into()
            } else {
                "closed the connection in the middle of a line".into()
            });
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len().saturating_add(take) > limits::MAX_SEAT_LINE.saturating_add(1) {
            return Err(format!(
                "sent a line longer than {} bytes",
                limits::MAX_SEAT_LINE
            ));
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            line.pop();
            return String::from_utf8(line).map_err(|_| "sent a line that is not UTF-8".into());
        }
    }
}

fn parse(line: &str) -> Result<Request, String> {
    serde_json::from_str(line).map_err(|e| format!("not a request ({e})"))
}

async fn reply<W: AsyncWriteExt + Unpin>(w: &mut W, r: &Reply) -> Result<(), String> {
    let mut line = serde_json::to_string(r).map_err(|e| e.to_string())?;
    line.push('\n');
    match tokio::time::timeout(limits::SEAT_WRITE_TIMEOUT, w.write_all(line.as_bytes())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err("did not read its replies; dropped".into()),
    }
}

/// The seat's side of the socket (`gameday join`).
pub struct SeatClient {
    read: BufReader<tokio::net::unix::OwnedReadHalf>,
    write: tokio::net::unix::OwnedWriteHalf,
    /// The run's answer to the hello.
    pub seat: u32,
    pub tag: String,
    pub may: Vec<String>,
    pub journal: PathBuf,
}

impl SeatClient {
    /// Connects to `socket` and says hello; the run's refusal is an error, in its words.
    pub async fn join(
        socket: &Path,
        role: &str,
        name: Option<&str>,
        can_halt: bool,
    ) -> Result<SeatClient, String> {
        let stream = UnixStream::connect(socket).await.map_err(|e| {
            format!(
                "cannot connect to {}: {e} (is the run live, and are you its user?)",
                socket.display()
            )
        })?;
        // Both ends check: a seat tells its notes only to a run of its own user.
        let me = std::fs::metadata("/proc/self").map(|m| m.uid());
        let peer = stream.peer_cred().map(|c| c.uid());
        if let (Ok(me), Ok(peer)) = (me, peer)
            && me != peer
        {
            return Err(format!(
                "{} is served by uid {peer}, not by you (uid {me}): not joining",
                socket.display()
            ));
        }
        let (read, write) = stream.into_split();
        let mut c = SeatClient {
            read: BufReader::new(read),
            write,
            seat: 0,
            tag: String::new(),
            may: vec![],
            journal: PathBuf::new(),
        };
        let hello = Request::Hello {
            role: role.to_string(),
            name: name.map(str::to_string),
            can_halt,
        };
        match c.send(&hello).await? {
            Reply::Welcome {
                seat,
                tag,
                may,
                journal,
            } => {
                c.seat = seat;
                c.tag = tag;
                c.may = may;
                c.journal = journal;
                Ok(c)
            }
            Reply::Refused { why } => Err(format!("the run refused this seat: {why}")),
            Reply::Sent { .. } => Err("the run answered the hello with something else".into()),
        }
    }

    /// Sends one request and waits (bounded) for its reply.
    pub async fn send(&mut self, req: &Request) -> Result<Reply, String> {
        let mut line = serde_json::to_string(req).map_err(|e| e.to_string())?;
        line.push('\n');
        // The run may have answered and closed before reading (a refused stranger): a failed
        // write still reads what is waiting, so the refusal is told in the run's words.
        let written = self.write.write_all(line.as_bytes()).await;
        let answer = tokio::time::timeout(limits::SEAT_WRITE_TIMEOUT, read_line(&mut self.read))
            .await
            .map_err(|_| "the run did not answer in time".to_string())?
            .map_err(|e| match &written {
                Err(w) => format!("the run closed the seat socket: {w}"),
                Ok(()) => format!("the run {e}"),
            })?;
        serde_json::from_str(&answer).map_err(|e| format!("the run's answer is unreadable: {e}"))
    }

    /// Whether this seat may send `what` (`note`, `milestone`, `retract`, `edit`, `halt`).
    pub fn may(&self, what: &str) -> bool {
        self.may.iter().any(|m| m == what)
    }
}

/// `gameday join … --note/--milestone/--halt`: joins, sends one request, says what the run
/// answered. Exit 0 when it was sent, 2 when it was refused or the run could not be reached
/// (nothing was sent).
pub async fn send_once(
    run: &Path,
    role: &str,
    name: Option<&str>,
    can_halt: bool,
    req: Request,
) -> u8 {
    let joined = match socket_of(run) {
        Ok(socket) => SeatClient::join(&socket, role, name, can_halt).await,
        Err(e) => Err(e),
    };
    let mut client = match joined {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("gameday: join {}: {e}", run.display());
            return crate::exit::INVALID;
        }
    };
    crate::outln!(
        "joined as {} (may: {})",
        client.tag,
        if client.may.is_empty() {
            "nothing: read-only".to_string()
        } else {
            client.may.join(", ")
        }
    );
    match client.send(&req).await {
        Ok(Reply::Sent { what }) => {
            crate::outln!("{what} sent to the run");
            crate::exit::HELD
        }
        Ok(Reply::Refused { why }) => {
            crate::errln!("gameday: join: refused: {why}");
            crate::exit::INVALID
        }
        Ok(Reply::Welcome { .. }) => {
            crate::errln!("gameday: join: the run answered with a second welcome");
            crate::exit::INVALID
        }
        Err(e) => {
            crate::errln!("gameday: join: {e}");
            crate::exit::INVALID
        }
    }
}

/// A note kind as typed on the command line (`action-item` or `action_item`).
pub fn note_kind(s: &str) -> Result<NoteKind, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_"))).map_err(|_| {
        format!(
            "unknown note kind {s:?}: observation, action-item, went-well, went-wrong, question or runbook-gap"
        )
    })
}

/// Requests of a joined console, answered in words.
pub struct SeatLink {
    pub requests: mpsc::Sender<Request>,
    /// The run's answer to each request, said for the status line.
    pub answers: mpsc::Receiver<String>,
    /// The run's events, read from its journal from the first record on.
    pub events: mpsc::Receiver<Arc<crate::event::Envelope>>,
}

/// Requests a console may have waiting for the socket; more are refused at once.
const QUEUED_REQUESTS: usize = 16;
/// Journal records read ahead of the console.
const READ_AHEAD: usize = 4096;

impl SeatClient {
    /// Hands the connection to a task: requests in, answers out, and the journal's events read
    /// beside it (a `journal::Tail`, polled; it stops after `run_ended`).
    pub fn link(mut self) -> Result<SeatLink, String> {
        let mut tail = crate::journal::Tail::open(&self.journal)
            .map_err(|e| format!("cannot read {}: {e}", self.journal.display()))?;
        let (req_tx, mut req_rx) = mpsc::channel::<Request>(QUEUED_REQUESTS);
        let (ans_tx, answers) = mpsc::channel(QUEUED_REQUESTS);
        tokio::spawn(async move {
            while let Some(req) = req_rx.recv().await {
                let text = match self.send(&req).await {
                    Ok(Reply::Sent { what }) => format!("{what} sent to the run as {}", self.tag),
                    Ok(Reply::Refused { why }) => format!("refused by the run: {why}"),
                    Ok(Reply::Welcome { .. }) => "the run answered with a second welcome".into(),
                    Err(e) => format!("not sent: {e}"),
                };
                if ans_tx.send(text).await.is_err() {
                    return;
                }
            }
        });
        let (ev_tx, events) = mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            loop {
                match tail.poll() {
                    Some(Ok(env)) => {
                        let end = matches!(env.event, Event::RunEnded);
                        if ev_tx.send(Arc::new(env)).await.is_err() || end {
                            return;
                        }
                    }
                    Some(Err(crate::journal::JournalError::Corrupt { line, reason, .. })) => {
                        tracing::warn!(line, %reason, "unreadable journal line skipped");
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "cannot read the journal any more");
                        return;
                    }
                    // Human-paced: a poll every 200 ms, as `gameday follow`.
                    None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                }
            }
        });
        Ok(SeatLink {
            requests: req_tx,
            answers,
            events,
        })
    }
}

/// What a console's command becomes on the seat socket; `Err` says why a seat cannot send it.
pub fn request_of(cmd: Command) -> Result<Request, &'static str> {
    match cmd {
        Command::Note { text, action, .. } => Ok(Request::Note {
            text,
            kind: NoteKind::of(None, action),
            owner: None,
            due: None,
        }),
        Command::NoteOf {
            text,
            kind,
            owner,
            due,
            ..
        } => Ok(Request::Note {
            text,
            kind,
            owner,
            due,
        }),
        Command::Milestone { kind, .. } => Ok(Request::Milestone { kind }),
        Command::Retract { seq, .. } => Ok(Request::Retract { seq }),
        Command::EditNote {
            edits,
            text,
            kind,
            owner,
            due,
            ..
        } => Ok(Request::Edit {
            seq: edits,
            text,
            kind,
            owner,
            due,
        }),
        Command::Halt { reason, .. } => Ok(Request::Halt { reason }),
        Command::Advance => Err("a joined seat cannot advance steps: ask the IC"),
        Command::Proceed { .. } => Err("a joined seat cannot override live checks: ask the IC"),
        Command::Check { .. } => Err("a joined seat cannot tick checks: ask the IC"),
        Command::Seat(_) => Err("not a seat's request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Envelope;
    use tokio::sync::broadcast;

    const SCENARIO: &str = r#"
title: Seat test
hypothesis: Seats write.
roles: { incident_commander: Dana, scribe: Lee, observers: [Ana] }
max_duration: 2m
targets:
  here: { local: true }
metrics:
  up: { command: "echo 1", target: here, every: 1s, timeout: 2s }
steady_state:
  - { metric: up, below: 5 }
steps:
  - { name: Wait, duration: 10s }
"#;

    /// A seat socket over a journal in `dir`, an engine queue of `capacity` the test reads (or
    /// not), and the events channel the socket watches for the run's end.
    struct Server {
        socket: PathBuf,
        journal: PathBuf,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Arc<Envelope>>,
        task: JoinHandle<()>,
        _keep: mpsc::Sender<Command>,
    }

    fn server(dir: &Path, capacity: usize, allow_remote_halt: bool) -> Server {
        let file = dir.join("s.yaml");
        std::fs::write(&file, SCENARIO).expect("write scenario");
        let scenario = Arc::new(Scenario::load(&file).expect("valid"));
        let journal = dir.join("journal.jsonl");
        let (tx, commands) = mpsc::channel(capacity);
        let (events, _) = broadcast::channel(16);
        let handle = Handle {
            commands: tx.clone(),
            events: events.clone(),
        };
        let (socket, task) =
            listen(&journal, scenario, &handle, allow_remote_halt).expect("listening");
        Server {
            socket,
            journal,
            commands,
            events,
            task,
            _keep: tx,
        }
    }

    fn end_of_run(s: &Server) {
        let env = Envelope {
            seq: 0,
            ts: chrono::Utc::now(),
            run: "r".into(),
            event: Event::RunEnded,
        };
        s.events.send(Arc::new(env)).expect("the socket listens");
    }

    fn note(text: &str) -> Request {
        Request::Note {
            text: text.into(),
            kind: NoteKind::Observation,
            owner: None,
            due: None,
        }
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_a_symlink_never_followed_a_live_one_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "keep me").expect("write");
        std::os::unix::fs::symlink(&precious, dir.path().join(SOCKET)).expect("symlink");
        let s = server(dir.path(), 8, false);
        assert_eq!(
            std::fs::read_to_string(&precious).expect("still there"),
            "keep me"
        );
        let m = std::fs::symlink_metadata(&s.socket).expect("socket");
        assert!(m.file_type().is_socket());
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        // A live run's socket at the same place is left alone.
        let (tx, _rx) = mpsc::channel(1);
        let (events, _) = broadcast::channel(1);
        let other = Handle {
            commands: tx,
            events,
        };
        let file = dir.path().join("s.yaml");
        let scenario = Arc::new(Scenario::load(&file).expect("valid"));
        let err = listen(&s.journal, scenario, &other, false).expect_err("refused");
        assert!(err.contains("another live run"), "{err}");
        // Its probe (connect, close) is not a seat and not journaled: only a real hello is.
        let mut c = SeatClient::join(&s.socket, "scribe", None, false)
            .await
            .expect("joined");
        assert_eq!(c.seat, 1);
        assert!(matches!(
            c.send(&note("n")).await.expect("answer"),
            Reply::Sent { .. }
        ));
        let mut s = s;
        // The run's end removes it.
        end_of_run(&s);
        tokio::time::timeout(std::time::Duration::from_secs(10), s.task)
            .await
            .expect("ends")
            .expect("no panic");
        assert!(!s.socket.exists());
        assert!(precious.exists());
        let mut got = vec![];
        while let Ok(cmd) = s.commands.try_recv() {
            got.push(cmd);
        }
        assert!(
            got.iter().all(
                |c| !matches!(c, Command::Seat(e) if matches!(**e, Event::SeatRefused { .. }))
            ),
            "the probe was journaled: {got:?}"
        );
        assert!(matches!(&got[0], Command::Seat(e) if matches!(**e, Event::SeatJoined { .. })));
    }

    /// The engine's queue full is a refusal the seat hears at once, never a wait.
    #[tokio::test]
    async fn a_full_engine_queue_is_a_refusal_never_a_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = server(dir.path(), 3, false);
        let mut c = SeatClient::join(&s.socket, "scribe", Some("Lee"), false)
            .await
            .expect("joined");
        assert_eq!(c.may, ["note", "milestone", "retract", "edit"]);
        // seat_joined took one place; two notes fit, the rest are refused.
        let mut answers = vec![];
        for i in 0..5 {
            answers.push(c.send(&note(&format!("n{i}"))).await.expect("answered"));
        }
        let sent = answers
            .iter()
            .filter(|a| matches!(a, Reply::Sent { .. }))
            .count();
        assert_eq!(sent, 2, "{answers:?}");
        assert!(
            matches!(&answers[4], Reply::Refused { why } if why.contains("busy")),
            "{answers:?}"
        );
        assert!(matches!(s.commands.recv().await, Some(Command::Seat(_))));
        match s.commands.recv().await {
            Some(Command::NoteOf { role, text, .. }) => {
                assert_eq!(
                    (role.as_str(), text.as_str()),
                    ("scribe Lee (seat 1)", "n0")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// A granted halt is not refused because the engine's queue is full at that moment: it waits
    /// (bounded) for room, in the seat's task; a note in the same spot is refused at once.
    #[tokio::test(start_paused = true)]
    async fn a_granted_halt_waits_for_room_in_a_full_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = server(dir.path(), 3, true);
        let mut c = SeatClient::join(&s.socket, "comms", Some("Sam"), true)
            .await
            .expect("joined");
        assert!(c.may.iter().any(|m| m == "halt"), "{:?}", c.may);
        // seat_joined and two notes fill the queue; a third note is refused at once.
        for i in 0..3 {
            let reply = c.send(&note(&format!("n{i}"))).await.expect("answered");
            assert_eq!(matches!(reply, Reply::Sent { .. }), i < 2, "{reply:?}");
        }
        let halt = tokio::spawn(async move {
            c.send(&Request::Halt {
                reason: "smoke in the DC".into(),
            })
            .await
        });
        // Room appears two seconds later.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert!(
            !halt.is_finished(),
            "the halt waits for room, it is not refused"
        );
        assert!(matches!(s.commands.recv().await, Some(Command::Seat(_))));
        let reply = halt.await.expect("task").expect("answered");
        assert!(matches!(reply, Reply::Sent { .. }), "{reply:?}");
        for _ in 0..2 {
            assert!(matches!(
                s.commands.recv().await,
                Some(Command::NoteOf { .. })
            ));
        }
        match s.commands.recv().await {
            Some(Command::Halt { by, reason }) => {
                assert_eq!(
                    (by.as_str(), reason.as_str()),
                    ("comms Sam (seat 1)", "smoke in the DC")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// A seat that sends and never reads its replies is dropped once a reply has waited
    /// `SEAT_WRITE_TIMEOUT`; the engine's queue saw only what fitted, and never waited.
    #[tokio::test(start_paused = true)]
    async fn a_seat_that_reads_no_replies_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = server(dir.path(), 8, false);
        let stream = UnixStream::connect(&s.socket).await.expect("connect");
        let (mut read, mut write) = stream.into_split();
        write
            .write_all(b"{\"hello\":{\"role\":\"scribe\"}}\n")
            .await
            .expect("hello");
        let mut welcome = String::new();
        let mut r = BufReader::new(&mut read);
        r.read_line(&mut welcome).await.expect("welcome");
        assert!(welcome.contains("welcome"), "{welcome}");
        // Requests until the socket is full both ways (the run blocked on a reply no one reads).
        let line = b"{\"milestone\":{\"kind\":\"detected\"}}\n";
        let flood = async {
            loop {
                if write.write_all(line).await.is_err() {
                    return;
                }
            }
        };
        let left = async {
            loop {
                match s.commands.recv().await {
                    Some(Command::Seat(e)) => {
                        if let Event::SeatLeft { reason, .. } = *e {
                            return reason;
                        }
                    }
                    Some(_) => {}
                    None => panic!("queue closed"),
                }
            }
        };
        // Biased: the seat's record is queued before its socket closes, so `left` is ready
        // whenever the flood's write fails.
        let reason = tokio::select! {
            biased;
            r = left => r,
            () = flood => panic!("the run read for ever"),
        };
        assert!(reason.contains("did not read its replies"), "{reason}");
    }

    #[tokio::test]
    async fn a_seat_changes_only_its_own_records_and_an_observer_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = server(dir.path(), 64, true);
        let mut c = SeatClient::join(&s.socket, "scribe", Some("Lee"), true)
            .await
            .expect("joined");
        assert!(c.may("halt"), "granted by the run and asked by the seat");
        let tag = c.tag.clone();
        let mut w = crate::journal::JournalWriter::create(&s.journal, "r").expect("journal");
        let mut append = |role: &str| {
            w.append(
                chrono::Utc::now(),
                Event::Note {
                    role: role.into(),
                    text: "x".into(),
                    action: false,
                    kind: None,
                    owner: None,
                    due: None,
                    metrics: Default::default(),
                    faults: vec![],
                },
            )
            .expect("append")
            .seq
        };
        let theirs = append("IC");
        let mine = append(&tag);
        let refused = |r: Reply| match r {
            Reply::Refused { why } => why,
            other => panic!("not refused: {other:?}"),
        };
        let why = refused(
            c.send(&Request::Retract { seq: theirs })
                .await
                .expect("answer"),
        );
        assert!(why.contains("not this seat's"), "{why}");
        let edit = |seq| Request::Edit {
            seq,
            text: "y".into(),
            kind: NoteKind::Question,
            owner: None,
            due: None,
        };
        let why = refused(c.send(&edit(theirs)).await.expect("answer"));
        assert!(why.contains("not this seat's"), "{why}");
        let why = refused(
            c.send(&Request::Retract { seq: 999 })
                .await
                .expect("answer"),
        );
        assert!(why.contains("no record #999"), "{why}");
        assert!(matches!(
            c.send(&edit(mine)).await.expect("answer"),
            Reply::Sent { .. }
        ));
        assert!(matches!(
            c.send(&Request::Retract { seq: mine })
                .await
                .expect("answer"),
            Reply::Sent { .. }
        ));
        let why = refused(
            c.send(&note(&"z".repeat(limits::MAX_SEAT_TEXT + 1)))
                .await
                .expect("answer"),
        );
        assert!(why.contains("longer than"), "{why}");
        let late = Request::Note {
            text: "fix it".into(),
            kind: NoteKind::ActionItem,
            owner: Some("bo".into()),
            due: Some("next week".into()),
        };
        let why = refused(c.send(&late).await.expect("answer"));
        assert!(why.contains("not YYYY-MM-DD"), "{why}");
        assert!(matches!(
            c.send(&Request::Halt {
                reason: "enough".into()
            })
            .await
            .expect("answer"),
            Reply::Sent { .. }
        ));
        // Ana is listed under observers: read-only, whatever role she gives.
        let mut ana = SeatClient::join(&s.socket, "guest", Some("Ana"), true)
            .await
            .expect("joined");
        assert!(ana.may.is_empty());
        let why = refused(ana.send(&note("hello")).await.expect("answer"));
        assert!(why.contains("read-only"), "{why}");
        let why = refused(
            ana.send(&Request::Halt { reason: "x".into() })
                .await
                .expect("answer"),
        );
        assert!(why.contains("read-only"), "{why}");
        // What reached the engine, in order: no refused request among it.
        let mut got = vec![];
        while let Ok(cmd) = s.commands.try_recv() {
            got.push(cmd);
        }
        let kinds: Vec<&str> = got
            .iter()
            .map(|c| match c {
                Command::Seat(e) => match **e {
                    Event::SeatJoined { .. } => "joined",
                    _ => "other seat record",
                },
                Command::EditNote { edits, .. } if *edits == mine => "edit",
                Command::Retract { seq, .. } if *seq == mine => "retract",
                Command::Halt { by, .. } if *by == tag => "halt",
                _ => "unexpected",
            })
            .collect();
        assert_eq!(kinds, ["joined", "edit", "retract", "halt", "joined"]);
    }

    #[test]
    fn a_run_is_named_by_its_directory_or_its_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = dir.path().join("journal.jsonl");
        std::fs::write(&j, "").expect("write");
        let sock = dir.path().join(SOCKET);
        assert_eq!(socket_of(dir.path()), Ok(sock.clone()));
        assert_eq!(socket_of(&j), Ok(sock));
        let e = socket_of(&dir.path().join("nope")).expect_err("no run");
        assert!(e.contains("no such run"), "{e}");
    }

    #[test]
    fn console_commands_map_to_requests_and_the_ic_only_ones_say_why() {
        let r = request_of(Command::Milestone {
            kind: MilestoneKind::Detected,
            role: "IC".into(),
        });
        assert_eq!(
            r,
            Ok(Request::Milestone {
                kind: MilestoneKind::Detected
            })
        );
        assert!(request_of(Command::Advance).is_err_and(|w| w.contains("ask the IC")));
        assert_eq!(note_kind("action-item"), Ok(NoteKind::ActionItem));
        assert!(note_kind("nope").is_err());
    }
}
