//! The bridge client: a walkie-talkie that is both a client (of the
//! rendezvous server, and of the peer it calls) and a server (for the peer
//! that calls it).
//!
//! Two threads do the work. The main thread reads stdin commands and does
//! what they say: a REGISTER or BRIDGE is one short connection to the server
//! (connect, ask, read the answer, close), `/chat` calls the peer, and typed
//! lines go to the peer as CHATs. The acceptor thread takes incoming calls on
//! the port bound at start and, once a call is a chat, reads it; a chat we
//! called gets a reader thread of its own. Where the session is (idle,
//! waiting, paired, chatting) sits behind one mutex; whoever ends the
//! program does so holding it, so nothing is printed after the end.
//!
//! It does not enforce the handout's turn taking (read, write, read): both
//! sides may type at any time and every line is delivered. One chat per run:
//! when it ends, the program ends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use chat_protocol::bridge::{Contact, Message, MessageDecoder, MAX_TEXT, REGISTERED};
use chat_protocol::{name, FrameBuffer};

use crate::term;

/// How long the server, or a caller that has not said who it is, may take to
/// answer before we give up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write to a peer may block; a peer that stops reading must not
/// keep `/quit` or Ctrl-C from ending the program.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The rendezvous server's address, as `--server=IP:PORT` gives it.
#[derive(Debug, Clone)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
}

/// Parses `IP:PORT` (a host name or `[IPv6]` works too), for the command line.
pub fn parse_server(text: &str) -> Result<ServerAddr, String> {
    let bad = || format!("{text:?} is not IP:PORT");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(ServerAddr {
        host: host.to_owned(),
        port,
    })
}

/// Checks a clientID (1 to 32 ASCII letters and digits), for the command line.
pub fn parse_id(text: &str) -> Result<String, String> {
    match name::BRIDGE.accepts(text) {
        true => Ok(text.to_owned()),
        false => Err("a client ID is 1 to 32 ASCII letters and digits".into()),
    }
}

/// Where the session is.
#[derive(Debug)]
enum Mode {
    /// Nothing asked yet, registered, or told nothing useful.
    Idle,
    /// The server had nobody to pair us with: waiting for a peer's call.
    Waiting,
    /// The server gave us a peer: `/chat` calls it.
    Paired(Contact),
    /// In a chat: our sending end of the connection to the peer.
    Chatting(TcpStream),
}

/// Everything the threads share.
struct Client {
    /// Our contact: clientID, the IP that reaches the server, our port.
    me: Contact,
    server: ServerAddr,
    verbose: bool,
    mode: Mutex<Mode>,
}

/// Binds `port`, learns our IP from a connection to the server, prints
/// `<id> running on <ip>:<port>`, then runs the commands until the session
/// ends.
pub fn run(id: &str, port: u16, server: ServerAddr, verbose: bool) -> ExitCode {
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on 0.0.0.0:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let port = listener.local_addr().map_or(port, |a| a.port());
    // The address the server sees us at is the one peers can use too (and
    // 127.0.0.1 when the server is on loopback).
    let ip = match term::connect(&server.host, server.port) {
        Ok(probe) => match probe.local_addr() {
            Ok(local) => local.ip(),
            Err(e) => {
                eprintln!("error: cannot tell the local address: {e}");
                return ExitCode::from(1);
            }
        },
        Err(code) => return code,
    };
    let client = Arc::new(Client {
        me: Contact::new(id, ip.to_string(), port.to_string()),
        server,
        verbose,
        mode: Mutex::new(Mode::Idle),
    });
    term::on_interrupt({
        let client = client.clone();
        move || client.quit()
    });
    term::say(format_args!("{id} running on {ip}:{port}\n"));

    let acceptor = {
        let client = client.clone();
        thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || client.accept_calls(listener))
    };
    if let Err(e) = acceptor {
        eprintln!("error: cannot take calls: {e}");
        return ExitCode::from(1);
    }
    client.commands();
    client.end_of_input()
}

impl Client {
    fn lock(&self) -> MutexGuard<'_, Mode> {
        self.mode
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs stdin commands until end of input.
    fn commands(self: &Arc<Self>) {
        for line in term::stdin_lines() {
            let line = String::from_utf8_lossy(&line);
            match &*line {
                "/id" => term::say(format_args!("{}\n", self.me.client_id)),
                "/register" => self.register(),
                "/bridge" => self.bridge(),
                "/chat" => self.chat(),
                "/quit" => self.quit(),
                "" => {}
                // Any other `/<lowercase word>` is a command we do not know.
                other if is_command(other) => log::debug!("ignored command {other}"),
                text => self.say_line(text),
            }
        }
    }

    /// At end of stdin: an idle client exits; one waiting for a call or in
    /// a chat carries on until the chat ends (which ends the program).
    fn end_of_input(&self) -> ExitCode {
        loop {
            if !matches!(*self.lock(), Mode::Waiting | Mode::Chatting(_)) {
                term::exit_ok();
            }
            thread::park();
        }
    }

    fn register(&self) {
        match self.ask(Message::Register(self.me.clone())) {
            Some(Message::RegAck { status, .. }) if status == REGISTERED => {}
            Some(Message::RegAck { status, .. }) => {
                term::say(format_args!("Registration {status}\n"));
            }
            Some(other) => self.unexpected_answer(&other),
            None => {}
        }
    }

    fn bridge(&self) {
        let request = Message::Bridge {
            client_id: self.me.client_id.clone(),
        };
        match self.ask(request) {
            Some(Message::BridgeAck(peer)) => {
                let mut mode = self.lock();
                if !matches!(*mode, Mode::Chatting(_)) {
                    *mode = match peer.is_empty() {
                        true => Mode::Waiting,
                        false => Mode::Paired(peer),
                    };
                }
            }
            Some(other) => self.unexpected_answer(&other),
            None => {}
        }
    }

    /// Calls the peer the server gave us and starts the chat.
    fn chat(self: &Arc<Self>) {
        let peer = match &*self.lock() {
            Mode::Paired(peer) => peer.clone(),
            Mode::Chatting(_) => return,
            Mode::Idle | Mode::Waiting => {
                term::say(format_args!(
                    "No peer to chat with yet: /register and /bridge first\n"
                ));
                return;
            }
        };
        let Ok(port) = peer.port.parse::<u16>() else {
            term::say(format_args!(
                "Unable to connect to {}:{}\n",
                peer.ip, peer.port
            ));
            return;
        };
        let Ok(stream) = term::connect(&peer.ip, port) else {
            return;
        };
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        if self
            .send(&stream, &Message::ChatStart(self.me.clone()))
            .is_err()
        {
            self.vanished(&peer);
        }
        let reader = match stream.try_clone() {
            Ok(reader) => reader,
            Err(e) => {
                log::error!("cannot read from the peer: {e}");
                return;
            }
        };
        {
            let mut mode = self.lock();
            if let Mode::Chatting(_) = *mode {
                // A call came in while we were dialling: that chat wins.
                let _ = self.send(&stream, &Message::Quit);
                return;
            }
            *mode = Mode::Chatting(stream);
        }
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("peer".into())
            .spawn(move || me.read_chat(reader, FrameBuffer::new(MessageDecoder::default()), peer));
        if let Err(e) = spawned {
            log::error!("cannot read from the peer: {e}");
            self.quit();
        }
    }

    /// Sends one typed line to the peer, when in a chat; outside a chat
    /// there is nobody to say it to.
    fn say_line(&self, text: &str) {
        let mode = self.lock();
        let Mode::Chatting(stream) = &*mode else {
            return;
        };
        if text.len() > MAX_TEXT {
            term::say(format_args!(
                "Message too long: at most {MAX_TEXT} bytes, not sent\n"
            ));
            return;
        }
        let line = Message::ChatLine {
            client_id: self.me.client_id.clone(),
            message: text.to_owned(),
        };
        // A peer that is gone is reported by the reader, which sees it too.
        if let Err(e) = self.send(stream, &line) {
            log::debug!("send to the peer failed: {e}");
        }
    }

    /// `/quit` and Ctrl-C: tell a chat peer, close, exit 0. Holding the lock
    /// to the end keeps the reader from reporting the peer as vanished.
    fn quit(&self) {
        let mode = self.lock();
        if let Mode::Chatting(stream) = &*mode {
            let _ = self.send(stream, &Message::Quit);
            let _ = stream.shutdown(Shutdown::Both);
        }
        term::exit_ok()
    }

    /// Takes calls until one becomes our chat, then reads that chat.
    fn accept_calls(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            let mut frames = FrameBuffer::new(MessageDecoder::default());
            // A caller that says nothing must not hold up the next one.
            let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
            let peer = match self.receive(&stream, &mut frames) {
                Ok(Some(Message::ChatStart(peer))) => peer,
                Ok(Some(other)) => {
                    log::warn!("a call began with {} instead of CHAT", other.kind());
                    continue;
                }
                Ok(None) => continue,
                Err(e) => {
                    log::warn!("a call that did not start a chat: {e}");
                    continue;
                }
            };
            let _ = stream.set_read_timeout(None);
            let writer = match stream.try_clone() {
                Ok(writer) => writer,
                Err(e) => {
                    log::error!("cannot answer a call: {e}");
                    continue;
                }
            };
            {
                let mut mode = self.lock();
                if let Mode::Chatting(_) = *mode {
                    // Busy: one chat at a time.
                    let _ = self.send(&writer, &Message::Quit);
                    continue;
                }
                let (id, ip, port) = (&peer.client_id, &peer.ip, &peer.port);
                term::say(format_args!(
                    "Incoming chat request from {id} {ip}:{port}\n"
                ));
                *mode = Mode::Chatting(writer);
            }
            self.read_chat(stream, frames, peer);
        }
    }

    /// Prints the peer's lines until it quits or vanishes, then ends the
    /// program.
    fn read_chat(
        &self,
        stream: TcpStream,
        mut frames: FrameBuffer<MessageDecoder>,
        peer: Contact,
    ) -> ! {
        loop {
            match self.receive(&stream, &mut frames) {
                Ok(Some(Message::ChatLine { message, .. })) => {
                    term::say(format_args!("{message}\n"));
                }
                Ok(Some(Message::Quit)) => {
                    let _mode = self.lock();
                    let _ = stream.shutdown(Shutdown::Both);
                    term::exit_ok();
                }
                Ok(Some(other)) => log::warn!("ignored {} from the peer", other.kind()),
                Ok(None) => self.vanished(&peer),
                Err(e) => {
                    log::debug!("the peer's stream broke: {e}");
                    self.vanished(&peer);
                }
            }
        }
    }

    /// The peer went away without QUIT: say so and end.
    fn vanished(&self, peer: &Contact) -> ! {
        let _mode = self.lock();
        let (id, ip, port) = (&peer.client_id, &peer.ip, &peer.port);
        term::say(format_args!("Peer {id} at {ip}:{port} has disconnected\n"));
        term::exit_ok()
    }

    /// One request to the server on a connection of its own, as the
    /// protocol wants: connect, send, read the answer, close. `None` when
    /// there is no answer (and the user has been told why).
    fn ask(&self, request: Message) -> Option<Message> {
        let ServerAddr { host, port } = &self.server;
        let stream = term::connect(host, *port).ok()?;
        let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut frames = FrameBuffer::new(MessageDecoder::default());
        let answer = match self.send(&stream, &request) {
            Ok(()) => self.receive(&stream, &mut frames),
            Err(e) => Err(e),
        };
        match answer {
            Ok(Some(answer)) => Some(answer),
            Ok(None) => {
                term::say(format_args!(
                    "The server at {host}:{port} closed the connection without answering\n"
                ));
                None
            }
            Err(e) => {
                term::say(format_args!(
                    "No answer from the server at {host}:{port}: {e}\n"
                ));
                None
            }
        }
    }

    fn unexpected_answer(&self, answer: &Message) {
        term::say(format_args!(
            "Unexpected answer from the server: {}\n",
            answer.kind()
        ));
    }

    /// Writes `message`, showing it first with `-v`.
    fn send(&self, mut stream: &TcpStream, message: &Message) -> io::Result<()> {
        self.trace("> ", message);
        stream.write_all(&message.to_bytes())
    }

    /// Reads the next message, showing it with `-v`; `None` at end of
    /// stream.
    fn receive(
        &self,
        mut stream: &TcpStream,
        frames: &mut FrameBuffer<MessageDecoder>,
    ) -> io::Result<Option<Message>> {
        loop {
            match frames.next_item() {
                Ok(Some(message)) => {
                    self.trace("< ", &message);
                    return Ok(Some(message));
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            match stream.read(frames.space()) {
                Ok(0) => return Ok(None),
                Ok(n) => frames.filled(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// With `-v`, prints each line of `message` after `prefix`, the closing
    /// empty line as the bare prefix.
    fn trace(&self, prefix: &str, message: &Message) {
        if !self.verbose {
            return;
        }
        let bytes = message.to_bytes();
        let mut out = String::new();
        for line in String::from_utf8_lossy(&bytes).split_terminator("\r\n") {
            out.push_str(prefix);
            out.push_str(line);
            out.push('\n');
        }
        term::say(format_args!("{out}"));
    }
}

/// Whether `line` is a command: `/` and a lowercase word.
fn is_command(line: &str) -> bool {
    line.strip_prefix('/')
        .is_some_and(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let ok = |text: &str| parse_server(text).map(|a| (a.host, a.port));
        assert_eq!(ok("127.0.0.1:5555"), Ok(("127.0.0.1".into(), 5555)));
        assert_eq!(ok("localhost:1"), Ok(("localhost".into(), 1)));
        assert_eq!(ok("[::1]:80"), Ok(("::1".into(), 80)));
        for bad in ["127.0.0.1", ":80", "host:", "host:x", "host:70000"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_are_slash_and_a_lowercase_word() {
        for (line, want) in [
            ("/quit", true),
            ("/whatever", true),
            ("/", false),
            ("/Quit", false),
            ("/ quit", false),
            ("/quit now", false),
            ("hello", false),
        ] {
            assert_eq!(is_command(line), want, "{line}");
        }
    }
}
