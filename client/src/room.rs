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
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::room::{attachment_text, entry_text, Kind, Message, MessageDecoder};
use chat_protocol::{safe, FrameBuffer};
use crossbeam_channel::{after, bounded, select, unbounded, Receiver, Sender};

use crate::console::{Console, Printer};
use crate::term;
use crate::trace::{Dir, Trace};

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
    3. Quit the program.\n";
const CHOICE: &str = "Your choice: ";
const ASK_NAME: &str = "Please enter a username: ";
const WELCOME: &str = "The server welcomes you to the chatroom.\n\
    Type lowercase 'q' and press enter at any time to quit the chatroom.\n\
    Type lowercase 'a' and press enter at any time to upload an attachment to the chatroom.\n\
    Here is a history of the chatroom.\n";
const ASK_PATH: &str = "Please enter the file path and name: ";

/// What ends the program: the user or the server ended things (0), or the
/// server cannot be reached (1).
type Exit = u8;

pub fn run(host: &str, port: u16, downloads: &Path, trace: bool) -> ExitCode {
    term::on_interrupt(|| term::exit_ok());
    let (out, prompts, lines) = input();
    let mut client = Client {
        host: host.to_owned(),
        port,
        downloads: downloads.to_owned(),
        out: out.clone(),
        trace,
        prompts,
        lines,
        reading: false,
        link: None,
    };
    let code = loop {
        client.out.print(MENU);
        let step = match client.choice() {
            Some(choice) => match choice.trim() {
                "1" => client.report(),
                "2" => client.join(),
                "3" => break 0,
                other => {
                    let other = safe::escape_str(other);
                    client.out.note(format!(
                        "{other:?} is not one of the options: type 1, 2 or 3"
                    ));
                    Ok(())
                }
            },
            None => break 0,
        };
        if let Err(code) = step {
            break code;
        }
    };
    // Everything printed goes out before the end.
    out.exit(code)
}

/// Starts the thread that owns the console: it reads one line each time it
/// is given a prompt (the editor shows the prompt in a terminal; through a
/// pipe it is printed before the read). Returns the console's printer, the
/// prompts' sender and the lines' receiver, which ends at end of input.
fn input() -> (Printer, Sender<String>, Receiver<Vec<u8>>) {
    let (printer_tx, printer_rx) = bounded(1);
    let (prompts, asked) = unbounded::<String>();
    let (lines_tx, lines) = unbounded();
    let spawned = thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            // The console lives on this thread (it holds stdin).
            let mut console = Console::new();
            let _ = printer_tx.send(console.printer());
            for prompt in asked {
                let Some(line) = console.read_line(&prompt) else {
                    return;
                };
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
    let printer = spawned.ok().and_then(|_| printer_rx.recv().ok());
    match printer {
        Some(printer) => (printer, prompts, lines),
        None => {
            eprintln!("error: cannot read the terminal");
            crate::console::exit_now(1)
        }
    }
}

/// Connects to `host:port` (each address it resolves to within
/// [`REPLY_TIMEOUT`]), or prints `Unable to connect to <host>:<port>`
/// (through the console, in order with what came before).
fn connect(host: &str, port: u16, out: &Printer) -> Result<TcpStream, Exit> {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            out.print(format!("Unable to connect to {host}:{port}\n"));
            out.note(format!(
                "chat-client: the name {host:?} did not resolve: {e}"
            ));
            return Err(1);
        }
    };
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, REPLY_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => log::debug!("connect to {addr} failed: {e}"),
        }
    }
    out.print(format!("Unable to connect to {host}:{port}\n"));
    Err(1)
}

/// One connection to the server.
struct Link {
    stream: TcpStream,
    /// The server's messages, at most [`QUEUE`] waiting; disconnected once
    /// the server closes.
    incoming: Receiver<Message>,
    /// `-v`'s view of what we send.
    sent: std::sync::Mutex<Trace>,
}

impl Link {
    fn open(host: &str, port: u16, out: &Printer, trace: bool) -> Result<Link, Exit> {
        let stream = connect(host, port, out)?;
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let (tx, incoming) = bounded(QUEUE);
        let mut received = Trace::new(out, Dir::Received, trace);
        let out_clone = out.clone();
        let reader = stream.try_clone().and_then(|mut socket| {
            thread::Builder::new().name("server".into()).spawn(move || {
                let out = out_clone;
                let mut frames = FrameBuffer::new(MessageDecoder::new(MAX_FROM_SERVER));
                loop {
                    let space = frames.space();
                    match socket.read(space) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            received.room(&space[..n]);
                            frames.filled(n);
                        }
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
                                out.note(format!(
                                    "The server sent what this client cannot take ({e}); closing the connection"
                                ));
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
            return Err(1);
        }
        Ok(Link {
            stream,
            incoming,
            sent: std::sync::Mutex::new(Trace::new(out, Dir::Sent, trace)),
        })
    }

    /// Sends `message`. A failure (the server gone, or not taking bytes
    /// within [`WRITE_TIMEOUT`], which leaves half a message sent) ends the
    /// connection, which the reader then reports as closed.
    fn send(&self, message: &Message) -> io::Result<()> {
        let bytes = message.to_bytes();
        if let Ok(mut trace) = self.sent.lock() {
            trace.room(&bytes);
        }
        let sent = (&self.stream).write_all(&bytes);
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
    /// No reply within [`REPLY_TIMEOUT`].
    GaveUp,
}

struct Client {
    host: String,
    port: u16,
    downloads: PathBuf,
    out: Printer,
    /// `-v`: show every message sent and received on stderr.
    trace: bool,
    /// Asks the console thread for the next line, with its prompt.
    prompts: Sender<String>,
    lines: Receiver<Vec<u8>>,
    /// Whether the console thread has been asked for a line not yet taken.
    reading: bool,
    link: Option<Link>,
}

impl Client {
    /// Asks for the next line with `prompt`, unless a read is already on.
    fn ask_line(&mut self, prompt: &str) {
        if !self.reading {
            self.reading = self.prompts.send(prompt.to_owned()).is_ok();
        }
    }

    /// The next stdin line as text, read with `prompt`; `None` at end of
    /// input.
    fn line(&mut self, prompt: &str) -> Option<String> {
        self.ask_line(prompt);
        let line = self.lines.recv().ok();
        self.reading = false;
        Some(String::from_utf8_lossy(&line?).into_owned())
    }

    /// The menu choice, asking again on an empty line.
    fn choice(&mut self) -> Option<String> {
        loop {
            let line = self.line(CHOICE)?;
            if !line.trim().is_empty() {
                return Some(line);
            }
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
            self.link = Some(Link::open(&self.host, self.port, &self.out, self.trace)?);
        }
        match &self.link {
            Some(link) => Ok(link),
            None => Err(1),
        }
    }

    /// Waits for a message of a kind in `replies` for at most
    /// [`REPLY_TIMEOUT`], showing texts that arrive meanwhile.
    fn reply(&mut self, replies: &[Kind]) -> Reply {
        let Some(incoming) = self.link.as_ref().map(|link| link.incoming.clone()) else {
            return Reply::Closed;
        };
        let timeout = after(REPLY_TIMEOUT);
        loop {
            select! {
                recv(incoming) -> message => match message {
                    Ok(message) if replies.contains(&message.kind) => return Reply::Got(message),
                    Ok(message) if message.kind == Kind::Text => {
                        self.show_line(&message.timestamp, &message.username, &message.payload);
                    }
                    Ok(message) => log::debug!("ignored while waiting: {:?}", message.kind),
                    Err(_) => return Reply::Closed,
                },
                recv(timeout) -> _ => {
                    self.out.note(format!(
                        "No answer from the server at {}:{} within {REPLY_TIMEOUT:?}; back to the menu",
                        self.host, self.port
                    ));
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
        self.out.print("Disconnected from server\n");
        Err(0)
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
        let payload = safe::escape(&report.payload);
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
        self.out.print(out);
        Ok(())
    }

    fn join(&mut self) -> Result<(), Exit> {
        let name = loop {
            match self.line(ASK_NAME) {
                None => return Err(0),
                Some(name) if name.is_empty() => {}
                Some(name) => break name,
            }
        };
        let request = Message::new(Kind::JoinRequest).user(&name);
        let Some(reply) = self.ask(request, &[Kind::JoinAccept, Kind::JoinReject])? else {
            return Ok(());
        };
        if reply.kind == Kind::JoinReject {
            let mut text = safe::escape(&reply.payload);
            text.push('\n');
            self.out.print(text);
            return Ok(());
        }
        let mut history = safe::escape(&reply.payload);
        if !history.is_empty() && !history.ends_with('\n') {
            history.push('\n');
        }
        self.out.print(WELCOME);
        self.out.print(history);
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
            self.ask_line(if asked_for_path { ASK_PATH } else { "" });
            select! {
                recv(self.lines) -> line => {
                    self.reading = false;
                    let Ok(line) = line else {
                        self.quit(me);
                        return Err(0);
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
                        b"a" => asked_for_path = true,
                        _ => self.send(&Message::text(me, line)),
                    }
                }
                recv(incoming) -> message => match message {
                    Ok(message) => self.show(message),
                    Err(_) => {
                        self.out.print("Disconnected from server\n");
                        return Err(0);
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
            Err(Refused::NoPath) => self.out.note("No file path given, so nothing was sent"),
            Err(Refused::Cannot(reason)) => {
                let path = safe::escape_str(path);
                self.out.print(format!("Cannot read {path}: {reason}\n"));
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
                    self.out.note(format!(
                        "The server did not confirm the quit within {REPLY_TIMEOUT:?}"
                    ));
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
            Kind::Text => self.show_line(&timestamp, &username, entry_text(&payload)),
            Kind::NewUser | Kind::QuitAccept => self.show_line(&timestamp, "Server", &payload),
            Kind::Attachment => {
                let file = safe::escape(filename.as_bytes());
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
                        self.out.note(format!(
                            "{} sent {file} ({} bytes), saved to {}",
                            safe::escape_str(&username),
                            payload.len(),
                            safe::escape_str(&path.display().to_string())
                        ));
                        attachment_text(&username, &filename, &payload)
                    }
                    Err(e) => {
                        self.out.note(format!("Cannot save {file}: {e}"));
                        attachment_text(&username, &filename, &payload)
                    }
                };
                self.show_line(&timestamp, &username, &text);
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

impl Client {
    /// Prints `[<time>] <user>: <text>`, terminal-safe; without the brackets
    /// when the message has no time (the server's own texts that are not in
    /// the history).
    fn show_line(&self, time: &str, user: &str, text: &[u8]) {
        let mut out = String::with_capacity(text.len() + 32);
        if !time.is_empty() {
            out.push('[');
            out.push_str(&safe::escape_str(time));
            out.push_str("] ");
        }
        out.push_str(&safe::escape_str(user));
        out.push_str(": ");
        out.push_str(&safe::escape(text));
        out.push('\n');
        self.out.print(out);
    }
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
