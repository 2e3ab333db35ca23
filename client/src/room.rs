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

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;

use chat_protocol::room::{attachment_text, entry_text, Kind, Message, MessageDecoder};
use chat_protocol::FrameBuffer;
use crossbeam_channel::{select, unbounded, Receiver};

use crate::term;

/// The largest message taken from the server. The server is trusted (its
/// own limit bounds attachments), but a JOIN_ACCEPT carries the whole
/// history, which grows without a bound of its own.
const MAX_FROM_SERVER: u64 = 1 << 30;

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
        link: None,
    };
    loop {
        term::say(format_args!("{MENU}"));
        let step = match client.choice() {
            Some(choice) => match choice.trim() {
                "1" => client.report(),
                "2" => client.join(),
                "3" => return ExitCode::SUCCESS,
                _ => Ok(()),
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
    /// The server's messages; disconnected once the server closes.
    incoming: Receiver<Message>,
}

impl Link {
    fn open(host: &str, port: u16) -> Result<Link, Exit> {
        let stream = term::connect(host, port)?;
        let (tx, incoming) = unbounded();
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
                            Ok(Some(message)) => {
                                if tx.send(message).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                log::warn!("cannot follow the server: {e}");
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

    /// Sends `message`; a failure shows up as the server closing.
    fn send(&self, message: &Message) -> io::Result<()> {
        (&self.stream).write_all(&message.to_bytes())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Wakes the reader thread, which then ends.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

struct Client {
    host: String,
    port: u16,
    downloads: PathBuf,
    lines: Receiver<Vec<u8>>,
    link: Option<Link>,
}

impl Client {
    /// The next stdin line as text; `None` at end of input.
    fn line(&self) -> Option<String> {
        let line = self.lines.recv().ok()?;
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    /// The menu choice, asking again on an empty line.
    fn choice(&self) -> Option<String> {
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

    /// Sends `request` from the menu and waits for the reply of a kind in
    /// `replies`. A connection that turns out closed is replaced once.
    fn ask(&mut self, request: Message, replies: &[Kind]) -> Result<Message, Exit> {
        for _attempt in 0..2 {
            let link = self.link()?;
            if link.send(&request).is_ok() {
                while let Ok(message) = link.incoming.recv() {
                    if replies.contains(&message.kind) {
                        return Ok(message);
                    }
                    if message.kind == Kind::Text {
                        show_line(&message.timestamp, &message.username, &message.payload);
                    }
                }
            }
            self.link = None;
        }
        term::say(format_args!("Disconnected from server\n"));
        Err(ExitCode::SUCCESS)
    }

    fn report(&mut self) -> Result<(), Exit> {
        let report = self.ask(Message::new(Kind::ReportRequest), &[Kind::ReportResponse])?;
        let mut out = format!(
            "There are {} active users in the chatroom.\n",
            report.number
        );
        let payload = String::from_utf8_lossy(&report.payload);
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
        let reply = self.ask(request, &[Kind::JoinAccept, Kind::JoinReject])?;
        if reply.kind == Kind::JoinReject {
            let mut text = reply.payload;
            text.push(b'\n');
            term::say_bytes(&text);
            return Ok(());
        }
        let mut history = reply.payload;
        if !history.is_empty() && !history.ends_with(b"\n") {
            history.push(b'\n');
        }
        term::say(format_args!("{WELCOME}"));
        term::say_bytes(&history);
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
            if let Err(e) = link.send(message) {
                log::debug!("send failed: {e}");
            }
        }
    }

    fn upload(&self, path: &str) {
        match fs::read(path) {
            Ok(bytes) => self.send(&Message::new(Kind::Attachment).file(path).payload(bytes)),
            Err(e) => term::say(format_args!("Cannot read {path}: {e}\n")),
        }
    }

    /// Leaves the chatroom: QUIT_REQUEST, then whatever arrives until our
    /// own QUIT_ACCEPT (not shown) or the server closing; then the
    /// connection is done.
    fn quit(&mut self, me: &str) {
        let Some(link) = self.link.take() else { return };
        if link.send(&Message::new(Kind::QuitRequest)).is_ok() {
            while let Ok(message) = link.incoming.recv() {
                if message.kind == Kind::QuitAccept && message.username == me {
                    break;
                }
                self.show(message);
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
                let text = match chat_files::store(&self.downloads, &filename, &payload) {
                    Ok((_, path)) if std::str::from_utf8(&payload).is_err() => format!(
                        "{username} sent {filename} ({} bytes), saved to {}",
                        payload.len(),
                        path.display()
                    )
                    .into_bytes(),
                    Ok(_) => attachment_text(&username, &filename, &payload),
                    Err(e) => {
                        term::say(format_args!("Cannot save {filename}: {e}\n"));
                        attachment_text(&username, &filename, &payload)
                    }
                };
                show_line(&timestamp, &username, &text);
            }
            other => log::debug!("ignored in the chatroom: {other:?}"),
        }
    }
}

/// Prints `[<time>] <user>: <text>`; without the brackets when the message
/// has no time (the server's own texts that are not in the history).
fn show_line(time: &str, user: &str, text: &[u8]) {
    let mut out = Vec::with_capacity(text.len() + 32);
    if !time.is_empty() {
        out.extend_from_slice(format!("[{time}] ").as_bytes());
    }
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(text);
    out.push(b'\n');
    term::say_bytes(&out);
}
