//! The room client: the handout's menu (report, join, quit the program) and,
//! once joined, the chatroom, where every line typed is a text, `q` quits
//! the chatroom and `a` uploads a file.
//!
//! It connects when the menu first needs the server, so the menu shows even
//! when no server is up yet, and connects again after leaving the chatroom
//! (the server closes a quitter's connection). A connection the server
//! dropped while the menu waited (its login timeout) is replaced quietly.
//!
//! Two threads feed the main loop: one reads stdin lines, one decodes the
//! server's messages; the main loop waits on both, so messages print while
//! the user is typing. Received attachments are stored like the server
//! stores them, in this client's own downloads folder.
//!
//! Nothing the server does can make it grow or hang: a message over
//! [`MAX_FROM_SERVER`] is refused at its header (the connection is
//! dropped), at most [`QUEUE`] decoded messages wait for the main loop (so
//! when the user's terminal is not being read, printing blocks, the queue
//! fills, the reader stops reading and the server's own send queue bound
//! applies), every wait for a reply ends after [`REPLY_TIMEOUT`], and a
//! write the server does not take within [`WRITE_TIMEOUT`] drops the
//! connection. An upload is checked before anything is sent: a regular
//! file of at most [`MAX_UPLOAD`] bytes, read with that bound.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::room::{attachment_text, entry_text, Kind, Message, MessageDecoder};
use chat_protocol::FrameBuffer;
use crossbeam_channel::{after, bounded, never, select, unbounded, Receiver};

use crate::bridge::shown;
use crate::term;

/// The largest message taken from the server: twice the server's default
/// attachment limit, far above any report or default join history. A
/// larger PAYLOAD_LENGTH is refused at its header, before any payload is
/// read, and the connection dropped.
const MAX_FROM_SERVER: u64 = 32 << 20;
/// How many decoded messages may wait for the main loop.
const QUEUE: usize = 2;
/// How long the menu waits for a reply, and the chatroom for the QUIT_ACCEPT.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may wait for the server to take bytes.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest file uploaded: the server's default `--max-attachment`; a
/// larger one would get the uploader disconnected as malformed.
const MAX_UPLOAD: u64 = 16 << 20;

const MENU: &str = "Please select one of the following options:\n\
    1. Get a report of the chatroom from the server.\n\
    2. Request to join the chatroom.\n\
    3. Quit the program.\n\
    Your choice: ";
const CHOICE: &str = "Your choice: ";
const ASK_NAME: &str = "Please enter a username: ";
const WELCOME: &str = "The server welcomes you to the chatroom.\n\
    Type lowercase 'q' and press enter at any time to quit the chatroom.\n\
    Type lowercase 'a' and press enter at any time to upload an attachment to the chatroom.\n\
    Here is a history of the chatroom.\n";
const ASK_PATH: &str = "Please enter the file path and name: ";

/// What ends the program: the user or the server ended things (0), or the
/// server cannot be reached (1).
type Exit = ExitCode;

pub fn run(host: &str, port: u16, downloads: &Path) -> ExitCode {
    term::on_interrupt(|| term::exit_ok());
    let mut client = Client {
        host: host.to_owned(),
        port,
        downloads: downloads.to_owned(),
        lines: stdin_lines(),
        typed: None,
        interactive: io::stdin().is_terminal(),
        link: None,
    };
    loop {
        term::say(format_args!("{MENU}"));
        let step = match client.choice() {
            Some(choice) => match choice.trim() {
                "1" => client.report(),
                "2" => client.join(),
                "3" => return ExitCode::SUCCESS,
                other => {
                    eprintln!(
                        "{:?} is not one of the options: type 1, 2 or 3",
                        shown(other.as_bytes())
                    );
                    Ok(())
                }
            },
            None => return ExitCode::SUCCESS,
        };
        if let Err(exit) = step {
            return exit;
        }
    }
}

/// Reads stdin lines on a thread of its own; the channel ends at end of
/// input.
fn stdin_lines() -> Receiver<Vec<u8>> {
    let (tx, rx) = unbounded();
    let spawned = thread::Builder::new().name("stdin".into()).spawn(move || {
        for line in term::stdin_lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        log::error!("cannot read stdin: {e}");
    }
    rx
}

/// One connection to the server.
struct Link {
    stream: TcpStream,
    /// The server's messages, at most [`QUEUE`] waiting; disconnected once
    /// the server closes.
    incoming: Receiver<Message>,
}

impl Link {
    fn open(host: &str, port: u16) -> Result<Link, Exit> {
        let stream = term::connect(host, port)?;
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let (tx, incoming) = bounded(QUEUE);
        let reader = stream.try_clone().and_then(|mut socket| {
            thread::Builder::new().name("server".into()).spawn(move || {
                let mut frames = FrameBuffer::new(MessageDecoder::new(MAX_FROM_SERVER));
                loop {
                    match socket.read(frames.space()) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => frames.filled(n),
                    }
                    loop {
                        match frames.next_item() {
                            // Blocks while the main loop is behind (its
                            // terminal paused): then the socket is not read.
                            Ok(Some(message)) => {
                                if tx.send(message).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                eprintln!("The server sent what this client cannot take ({e}); closing the connection");
                                let _ = socket.shutdown(Shutdown::Both);
                                return;
                            }
                        }
                    }
                }
            })
        });
        if let Err(e) = reader {
            log::error!("cannot read from the server: {e}");
            return Err(ExitCode::from(1));
        }
        Ok(Link { stream, incoming })
    }

    /// Sends `message`. A failure (the server gone, or not taking bytes
    /// within [`WRITE_TIMEOUT`], which leaves half a message sent) ends the
    /// connection, which the reader then reports as closed.
    fn send(&self, message: &Message) -> io::Result<()> {
        let sent = (&self.stream).write_all(&message.to_bytes());
        if let Err(e) = &sent {
            log::debug!("send failed: {e}");
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        sent
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Wakes the reader thread, which then ends.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// What a wait for the server's reply came to.
enum Reply {
    Got(Message),
    /// The server closed the connection.
    Closed,
    /// No reply in time, or the user typed meanwhile at a terminal.
    GaveUp,
}

struct Client {
    host: String,
    port: u16,
    downloads: PathBuf,
    lines: Receiver<Vec<u8>>,
    /// A line typed while the menu waited for the server, not yet used.
    typed: Option<Vec<u8>>,
    /// Whether stdin is a terminal: then a line typed while the menu waits
    /// for a reply stops the wait (in a script it waits its turn).
    interactive: bool,
    link: Option<Link>,
}

impl Client {
    /// The next stdin line as text; `None` at end of input.
    fn line(&mut self) -> Option<String> {
        let line = match self.typed.take() {
            Some(line) => line,
            None => self.lines.recv().ok()?,
        };
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    /// The menu choice, asking again on an empty line.
    fn choice(&mut self) -> Option<String> {
        loop {
            let line = self.line()?;
            if !line.trim().is_empty() {
                return Some(line);
            }
            term::say(format_args!("{CHOICE}"));
        }
    }

    /// The open connection, or a new one when there is none or the server
    /// has closed it since.
    fn link(&mut self) -> Result<&Link, Exit> {
        if let Some(link) = &self.link {
            loop {
                match link.incoming.try_recv() {
                    Ok(message) => log::debug!("ignored at the menu: {message:?}"),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => {
                        self.link = None;
                        break;
                    }
                }
            }
        }
        if self.link.is_none() {
            self.link = Some(Link::open(&self.host, self.port)?);
        }
        match &self.link {
            Some(link) => Ok(link),
            None => Err(ExitCode::from(1)),
        }
    }

    /// Waits for a message of a kind in `replies` for at most
    /// [`REPLY_TIMEOUT`], showing texts that arrive meanwhile.
    fn reply(&mut self, replies: &[Kind]) -> Reply {
        let Some(incoming) = self.link.as_ref().map(|link| link.incoming.clone()) else {
            return Reply::Closed;
        };
        let timeout = after(REPLY_TIMEOUT);
        let typed = match self.interactive && self.typed.is_none() {
            true => self.lines.clone(),
            false => never(),
        };
        loop {
            select! {
                recv(incoming) -> message => match message {
                    Ok(message) if replies.contains(&message.kind) => return Reply::Got(message),
                    Ok(message) if message.kind == Kind::Text => {
                        show_line(&message.timestamp, &message.username, &message.payload);
                    }
                    Ok(message) => log::debug!("ignored while waiting: {:?}", message.kind),
                    Err(_) => return Reply::Closed,
                },
                recv(typed) -> line => {
                    self.typed = line.ok();
                    eprintln!("Stopped waiting for the server's answer");
                    return Reply::GaveUp;
                }
                recv(timeout) -> _ => {
                    eprintln!(
                        "No answer from the server at {}:{} within {REPLY_TIMEOUT:?}; back to the menu",
                        self.host, self.port
                    );
                    return Reply::GaveUp;
                }
            }
        }
    }

    /// Sends `request` from the menu and waits for the reply of a kind in
    /// `replies`; `None` when it did not come in time (the connection is
    /// then dropped, so that a late reply is not taken for the next one).
    /// A connection that turns out closed is replaced once.
    fn ask(&mut self, request: Message, replies: &[Kind]) -> Result<Option<Message>, Exit> {
        for _attempt in 0..2 {
            let link = self.link()?;
            if link.send(&request).is_ok() {
                match self.reply(replies) {
                    Reply::Got(message) => return Ok(Some(message)),
                    Reply::GaveUp => {
                        self.link = None;
                        return Ok(None);
                    }
                    Reply::Closed => {}
                }
            }
            self.link = None;
        }
        term::say(format_args!("Disconnected from server\n"));
        Err(ExitCode::SUCCESS)
    }

    fn report(&mut self) -> Result<(), Exit> {
        let Some(report) = self.ask(Message::new(Kind::ReportRequest), &[Kind::ReportResponse])?
        else {
            return Ok(());
        };
        let mut out = format!(
            "There are {} active users in the chatroom.\n",
            report.number
        );
        let payload = shown(&report.payload);
        for (k, line) in payload.lines().enumerate() {
            let mut parts = line.rsplitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(port), Some(ip), Some(name)) => out.push_str(&format!(
                    "{}. {name} at IP: {ip} and port: {port}.\n",
                    k + 1
                )),
                _ => out.push_str(&format!("{}. {line}\n", k + 1)),
            }
        }
        term::say(format_args!("{out}"));
        Ok(())
    }

    fn join(&mut self) -> Result<(), Exit> {
        term::say(format_args!("{ASK_NAME}"));
        let name = loop {
            match self.line() {
                None => return Err(ExitCode::SUCCESS),
                Some(name) if name.is_empty() => term::say(format_args!("{ASK_NAME}")),
                Some(name) => break name,
            }
        };
        let request = Message::new(Kind::JoinRequest).user(&name);
        let Some(reply) = self.ask(request, &[Kind::JoinAccept, Kind::JoinReject])? else {
            return Ok(());
        };
        if reply.kind == Kind::JoinReject {
            let mut text = shown(&reply.payload);
            text.push('\n');
            term::say(format_args!("{text}"));
            return Ok(());
        }
        let mut history = shown(&reply.payload);
        if !history.is_empty() && !history.ends_with('\n') {
            history.push('\n');
        }
        term::say(format_args!("{WELCOME}"));
        term::say(format_args!("{history}"));
        self.chat(&name)
    }

    /// The chatroom, until `q` (back to the menu), end of input or the
    /// server going away (the program ends).
    fn chat(&mut self, me: &str) -> Result<(), Exit> {
        let Some(incoming) = self.link.as_ref().map(|link| link.incoming.clone()) else {
            return Ok(());
        };
        let mut asked_for_path = false;
        loop {
            select! {
                recv(self.lines) -> line => {
                    let Ok(line) = line else {
                        self.quit(me);
                        return Err(ExitCode::SUCCESS);
                    };
                    if std::mem::take(&mut asked_for_path) {
                        self.upload(&String::from_utf8_lossy(&line));
                        continue;
                    }
                    match &line[..] {
                        b"" => {}
                        b"q" => {
                            self.quit(me);
                            return Ok(());
                        }
                        b"a" => {
                            term::say(format_args!("{ASK_PATH}"));
                            asked_for_path = true;
                        }
                        _ => self.send(&Message::text(me, line)),
                    }
                }
                recv(incoming) -> message => match message {
                    Ok(message) => self.show(message),
                    Err(_) => {
                        term::say(format_args!("Disconnected from server\n"));
                        return Err(ExitCode::SUCCESS);
                    }
                },
            }
        }
    }

    /// Sends from the chatroom; if that fails the server is gone, which the
    /// chatroom learns from the reader.
    fn send(&self, message: &Message) {
        if let Some(link) = &self.link {
            let _ = link.send(message);
        }
    }

    /// Uploads the file at `path`, if it is one this client may send.
    fn upload(&self, path: &str) {
        match read_upload(path) {
            Ok(bytes) => self.send(&Message::new(Kind::Attachment).file(path).payload(bytes)),
            Err(Refused::NoPath) => eprintln!("No file path given, so nothing was sent"),
            Err(Refused::Cannot(reason)) => {
                term::say(format_args!(
                    "Cannot read {}: {reason}\n",
                    shown(path.as_bytes())
                ));
            }
        }
    }

    /// Leaves the chatroom: QUIT_REQUEST, then whatever arrives until our
    /// own QUIT_ACCEPT (not shown), the server closing, or
    /// [`REPLY_TIMEOUT`]; then the connection is done.
    fn quit(&mut self, me: &str) {
        let Some(link) = self.link.take() else { return };
        if link.send(&Message::new(Kind::QuitRequest)).is_err() {
            return;
        }
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match link.incoming.recv_timeout(left) {
                Ok(message) if message.kind == Kind::QuitAccept && message.username == me => break,
                Ok(message) => self.show(message),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    eprintln!("The server did not confirm the quit within {REPLY_TIMEOUT:?}");
                    break;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Prints a message received in the chatroom (and saves an attachment).
    fn show(&self, message: Message) {
        let Message {
            kind,
            username,
            filename,
            timestamp,
            payload,
            ..
        } = message;
        match kind {
            Kind::Text => show_line(&timestamp, &username, entry_text(&payload)),
            Kind::NewUser | Kind::QuitAccept => show_line(&timestamp, "Server", &payload),
            Kind::Attachment => {
                let file = shown(filename.as_bytes());
                let text = match chat_files::store(&self.downloads, &filename, &payload) {
                    Ok((_, path)) if std::str::from_utf8(&payload).is_err() => format!(
                        "{username} sent {filename} ({} bytes), saved to {}",
                        payload.len(),
                        path.display()
                    )
                    .into_bytes(),
                    Ok((_, path)) => {
                        // The contract prints a text file like a chat
                        // text; where it went is said beside it.
                        eprintln!(
                            "{} sent {file} ({} bytes), saved to {}",
                            shown(username.as_bytes()),
                            payload.len(),
                            shown(path.display().to_string().as_bytes())
                        );
                        attachment_text(&username, &filename, &payload)
                    }
                    Err(e) => {
                        eprintln!("Cannot save {file}: {e}");
                        attachment_text(&username, &filename, &payload)
                    }
                };
                show_line(&timestamp, &username, &text);
            }
            other => log::debug!("ignored in the chatroom: {other:?}"),
        }
    }
}

/// Why an upload was not sent.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// The user typed no path.
    NoPath,
    /// `Cannot read <path>: <this>`.
    Cannot(String),
}

/// The bytes of the file at `path`: a regular file of at most
/// [`MAX_UPLOAD`] bytes, checked before it is read and read with that
/// bound (a file that grows meanwhile is refused too).
fn read_upload(path: &str) -> Result<Vec<u8>, Refused> {
    if path.trim().is_empty() {
        return Err(Refused::NoPath);
    }
    let too_large = |n: u64| {
        Refused::Cannot(format!(
            "{n} bytes is over the limit of {MAX_UPLOAD} bytes for an attachment"
        ))
    };
    let cannot = |e: io::Error| Refused::Cannot(e.to_string());
    let file = fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(Refused::Cannot("not a regular file".into()));
    }
    if meta.len() > MAX_UPLOAD {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_UPLOAD + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_UPLOAD {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Prints `[<time>] <user>: <text>`, terminal-safe; without the brackets
/// when the message has no time (the server's own texts that are not in the
/// history).
fn show_line(time: &str, user: &str, text: &[u8]) {
    let mut out = String::with_capacity(text.len() + 32);
    if !time.is_empty() {
        out.push('[');
        out.push_str(&shown(time.as_bytes()));
        out.push_str("] ");
    }
    out.push_str(&shown(user.as_bytes()));
    out.push_str(": ");
    out.push_str(&shown(text));
    out.push('\n');
    term::say(format_args!("{out}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_checked_before_they_are_read() {
        let dir = std::env::temp_dir().join(format!("room-upload-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.txt");
        fs::write(&small, b"hello\n").unwrap();
        let big = dir.join("big.bin");
        fs::File::create(&big)
            .unwrap()
            .set_len(MAX_UPLOAD + 1)
            .unwrap();
        let limit = dir.join("limit.bin");
        fs::File::create(&limit)
            .unwrap()
            .set_len(MAX_UPLOAD)
            .unwrap();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        assert_eq!(read_upload(&path(&small)), Ok(b"hello\n".to_vec()));
        assert_eq!(
            read_upload(&path(&limit)).map(|b| b.len() as u64),
            Ok(MAX_UPLOAD)
        );
        assert_eq!(
            read_upload(&path(&big)),
            Err(Refused::Cannot(format!(
                "{} bytes is over the limit of {MAX_UPLOAD} bytes for an attachment",
                MAX_UPLOAD + 1
            )))
        );
        assert_eq!(read_upload(""), Err(Refused::NoPath));
        assert_eq!(read_upload("  "), Err(Refused::NoPath));
        assert_eq!(
            read_upload("/dev/zero"),
            Err(Refused::Cannot("not a regular file".into()))
        );
        assert_eq!(
            read_upload(&path(&dir)),
            Err(Refused::Cannot("not a regular file".into()))
        );
        assert!(matches!(
            read_upload(&path(&dir.join("missing"))),
            Err(Refused::Cannot(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
