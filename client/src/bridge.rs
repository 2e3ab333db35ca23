//! The bridge client: a walkie-talkie that is both a client (of the
//! rendezvous server, and of the peer it calls) and a server (for the peer
//! that calls it).
//!
//! The main thread reads stdin. `/quit` it does at once; every other line
//! goes, in order, to the commands thread, which does what it says: a
//! REGISTER or BRIDGE is one short connection to the server (connect, ask,
//! read the answer, close; the whole exchange bounded by
//! [`ANSWER_TIMEOUT`]), `/chat` calls the peer, and typed lines go to the
//! peer as CHATs. So a server that trickles its answer delays the commands
//! after it, never `/quit` or Ctrl-C. The acceptor thread takes calls on the
//! port bound at start: each gets a thread of its own that must read a
//! complete CHAT within [`ANSWER_TIMEOUT`] (at most [`MAX_CALLERS`] at once),
//! a call arriving during a chat is closed at once, and a CHAT is taken only
//! after a `/bridge` and while no chat is on. The call that becomes the chat
//! is read on the thread that took it; a chat we called gets a reader thread
//! of its own. Where the session is (idle, waiting, paired, chatting) sits
//! behind one mutex; whoever ends the program does so holding it, so nothing
//! is printed after the end.
//!
//! What the peer says is read by [`chat::ChatDecoder`], which understands
//! every form real course clients send and never fails: what it cannot read
//! is skipped with a warning on stderr, and only a QUIT or the connection
//! ending ends the chat. `-v` shows the bytes as they were on the wire, line
//! by line, not a re-encoding.
//!
//! It does not enforce the handout's turn taking (read, write, read): both
//! sides may type at any time and every line is delivered. One chat per run:
//! when it ends, the program ends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::bridge::{Contact, Message, MessageDecoder, MAX_TEXT, REGISTERED};
use chat_protocol::{name, safe, Decoder, FrameBuffer};
use crossbeam_channel::unbounded;

use crate::console::{self, Console, Printer};
use crate::term;
use crate::trace::{Dir, Trace};

mod chat;

/// `note!(client, ...)`: a formatted line on stderr, in order with stdout.
macro_rules! note {
    ($client:expr, $($arg:tt)*) => {
        $client.out.note(format!($($arg)*))
    };
}

use chat::{ChatDecoder, Said};

/// How long the server may take to answer a request (connecting included),
/// and a caller to send its whole first CHAT, before we give up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write to a peer may block; a peer that stops reading must not
/// keep `/quit` or Ctrl-C from ending the program.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many calls may be waiting for their first CHAT at once; more are
/// closed at once, so strangers cannot pile up threads.
const MAX_CALLERS: usize = 8;

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
    /// No `/bridge` answered yet: calls are refused.
    Idle,
    /// The server had nobody to pair us with: waiting for a peer's call.
    Waiting,
    /// The server gave us a peer: `/chat` calls it (and it may call us).
    Paired(Contact),
    /// In a chat: our sending end of the connection to the peer.
    Chatting(TcpStream),
}

/// Everything the threads share.
struct Client {
    /// Where everything is printed (stdout and stderr, in order).
    out: Printer,
    /// Our contact: clientID, the IP that reaches the server, our port.
    me: Contact,
    server: ServerAddr,
    verbose: bool,
    mode: Mutex<Mode>,
    /// Whether a REGISTER of this run was accepted (for the hint on a
    /// `/bridge` without one).
    registered: AtomicBool,
    /// Calls waiting for their first CHAT.
    callers: AtomicUsize,
    /// Whether the commands thread is waiting on the server or a peer.
    waiting_on_network: AtomicBool,
}

/// Binds `port`, learns our IP the way to the server, prints `<id> running
/// on <ip>:<port>`, then runs the commands until the session ends.
pub fn run(id: &str, port: u16, server: ServerAddr, verbose: bool) -> ExitCode {
    // Nothing is printed through the console before it exists: these two
    // errors are the only direct writes.
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on 0.0.0.0:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let port = listener.local_addr().map_or(port, |a| a.port());
    let Some(ip) = local_ip(&server) else {
        term::say(format_args!(
            "Unable to connect to {}:{}\n",
            server.host, server.port
        ));
        return ExitCode::from(1);
    };
    let mut console = Console::new();
    let client = Arc::new(Client {
        out: console.printer(),
        me: Contact::new(id, ip.to_string(), port.to_string()),
        server,
        verbose,
        mode: Mutex::new(Mode::Idle),
        registered: AtomicBool::new(false),
        callers: AtomicUsize::new(0),
        waiting_on_network: AtomicBool::new(false),
    });
    term::on_interrupt({
        let client = client.clone();
        move || client.interrupted()
    });
    client.out.print(format!("{id} running on {ip}:{port}\n"));

    let acceptor = {
        let client = client.clone();
        thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || client.accept_calls(listener))
    };
    let (lines, commands) = unbounded::<String>();
    let worker = {
        let client = client.clone();
        thread::Builder::new()
            .name("commands".into())
            .spawn(move || commands.iter().for_each(|line| client.command(&line)))
    };
    let worker = match (acceptor, worker) {
        (Ok(_), Ok(worker)) => worker,
        (Err(e), _) | (_, Err(e)) => {
            client.out.note(format!("error: cannot start: {e}"));
            client.out.exit(1);
        }
    };
    while let Some(line) = console.read_line("") {
        let line = String::from_utf8_lossy(&line).into_owned();
        // Lines wait their turn behind a command that waits on the network,
        // but `/quit` does not: it works at once.
        if line == "/quit" && client.waiting_on_network.load(Ordering::SeqCst) {
            client.quit();
        }
        if lines.send(line).is_err() {
            break;
        }
    }
    drop(lines);
    let _ = worker.join();
    client.end_of_input()
}

/// The local address this host uses to reach the server (127.0.0.1 when
/// the server is on loopback), learned by connecting a UDP socket, which
/// sends nothing: some course servers take an empty TCP connection for a
/// malformed message and exit.
fn local_ip(server: &ServerAddr) -> Option<std::net::IpAddr> {
    let addr = resolve(&server.host, server.port)?;
    let any: SocketAddr = match addr {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = UdpSocket::bind(any).ok()?;
    probe.connect(addr).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

/// The first address `host:port` resolves to.
fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            log::debug!("cannot resolve {host}: {e}");
            None
        }
    }
}

/// Connects to `host:port` within [`ANSWER_TIMEOUT`].
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let addr = resolve(host, port)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name does not resolve"))?;
    let stream = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT)?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    Ok(stream)
}

/// The next item from `stream` through `frames`, waiting at most until
/// `deadline` (`None`: for as long as it takes); every byte read is shown
/// with `-v`. `Ok(None)` at end of stream.
fn receive<D: Decoder>(
    mut stream: &TcpStream,
    frames: &mut FrameBuffer<D>,
    deadline: Option<Instant>,
    trace: &mut Trace,
) -> io::Result<Option<D::Item>> {
    loop {
        match frames.next_item() {
            Ok(Some(item)) => return Ok(Some(item)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            stream.set_read_timeout(Some(left))?;
        }
        match stream.read(frames.space()) {
            Ok(0) => {
                trace.end();
                return Ok(None);
            }
            Ok(n) => {
                frames.filled(n);
                trace.blocks(&frames.pending()[frames.pending().len().saturating_sub(n)..]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::ErrorKind::TimedOut.into())
            }
            Err(e) => {
                trace.end();
                return Err(e);
            }
        }
    }
}

impl Client {
    fn lock(&self) -> MutexGuard<'_, Mode> {
        self.mode
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `-v`'s view of what we receive on one connection.
    fn trace_in(&self) -> Trace {
        Trace::new(&self.out, Dir::Received, self.verbose)
    }

    /// Does one stdin line: a command, or a line of chat.
    fn command(self: &Arc<Self>, line: &str) {
        let network = |run: &dyn Fn()| {
            self.waiting_on_network.store(true, Ordering::SeqCst);
            run();
            self.waiting_on_network.store(false, Ordering::SeqCst);
        };
        match line {
            "/id" => self.out.print(format!("{}\n", self.me.client_id)),
            "/register" => network(&|| self.register()),
            "/bridge" => network(&|| self.bridge()),
            "/chat" => network(&|| self.chat()),
            "/quit" => self.quit(),
            "" => {}
            other if is_command(other) => note!(
                self,
                "{other} is not a command (commands: /id, /register, /bridge, /chat, /quit)"
            ),
            text => self.say_line(text),
        }
    }

    /// At end of stdin: an idle client exits; one waiting for a call or in
    /// a chat carries on until the chat ends (which ends the program).
    fn end_of_input(&self) -> ! {
        loop {
            if !matches!(*self.lock(), Mode::Waiting | Mode::Chatting(_)) {
                self.out.exit(0);
            }
            thread::park();
        }
    }

    fn register(&self) {
        match self.ask(Message::Register(self.me.clone())) {
            Some(Message::RegAck { status, .. }) if status == REGISTERED => {
                self.registered.store(true, Ordering::Relaxed);
            }
            Some(Message::RegAck { status, .. }) => {
                note!(
                    self,
                    "The server did not register {}: {}",
                    self.me.client_id,
                    safe::escape(status.as_bytes())
                );
            }
            Some(other) => self.unexpected_answer(&other),
            None => {}
        }
    }

    fn bridge(&self) {
        if !self.registered.load(Ordering::Relaxed) {
            note!(
                self,
                "Note: /bridge before /register: unless the server knows {} from an earlier run, it has no peer for it (/register first)",
                self.me.client_id
            );
        }
        let request = Message::Bridge {
            client_id: self.me.client_id.clone(),
        };
        match self.ask(request) {
            Some(Message::BridgeAck(peer)) => {
                let said = match peer.is_empty() {
                    true => "No peer yet: waiting for a peer to call (/bridge asks again)".into(),
                    false => format!(
                        "Your peer is {} at {}:{}: /chat calls it (or it may call you)",
                        safe::escape_str(&peer.client_id),
                        safe::escape_str(&peer.ip),
                        safe::escape_str(&peer.port)
                    ),
                };
                {
                    let mut mode = self.lock();
                    if matches!(*mode, Mode::Chatting(_)) {
                        return;
                    }
                    *mode = match peer.is_empty() {
                        true => Mode::Waiting,
                        false => Mode::Paired(peer),
                    };
                }
                self.out.note(said);
            }
            Some(other) => self.unexpected_answer(&other),
            None => {}
        }
    }

    /// Calls the peer the server gave us and starts the chat.
    fn chat(self: &Arc<Self>) {
        let peer = match &*self.lock() {
            Mode::Paired(peer) => peer.clone(),
            Mode::Chatting(_) => {
                note!(self, "/chat: already in a chat");
                return;
            }
            Mode::Waiting => {
                note!(
                self,
                    "/chat: the server had no peer for you at your /bridge, so there is nobody to call; \
                     you are waiting for a peer to call you (/bridge asks the server again)"
                );
                return;
            }
            Mode::Idle => {
                note!(
                    self,
                    "/chat: no peer yet: /register, then /bridge to get one"
                );
                return;
            }
        };
        let (ip, port) = (
            safe::escape(peer.ip.as_bytes()),
            safe::escape(peer.port.as_bytes()),
        );
        let stream = match peer.port.parse::<u16>() {
            Ok(number) => connect(&peer.ip, number),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a port number",
            )),
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                self.out
                    .print(format!("Unable to connect to {ip}:{port}\n"));
                note!(self, "(calling the peer failed: {e})");
                return;
            }
        };
        if let Err(e) = self.send(&stream, &Message::ChatStart(self.me.clone())) {
            log::debug!("the first CHAT failed: {e}");
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
        let spawned = thread::Builder::new().name("peer".into()).spawn(move || {
            let trace = me.trace_in();
            me.read_chat(
                reader,
                FrameBuffer::new(ChatDecoder::default()),
                trace,
                peer,
            )
        });
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
            note!(self, "Not in a chat, so this line was not sent: /register, /bridge, then /chat (or wait for a call)");
            return;
        };
        if text.len() > MAX_TEXT {
            note!(self, "Message too long: at most {MAX_TEXT} bytes, not sent");
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

    /// `/quit`: tell a chat peer, close, exit 0 once what was printed is
    /// out. Holding the lock to the end keeps the reader from reporting the
    /// peer as vanished.
    fn quit(&self) -> ! {
        let _mode = self.hang_up();
        self.out.exit(0)
    }

    /// Ctrl-C or SIGTERM: as `/quit`, but ends within a second whatever
    /// else is stuck: the lock is waited for half a second at most (its
    /// holder may be blocked printing to a stdout nobody reads), the QUIT
    /// is not traced and its write may take half a second, and the exit
    /// does not wait for stdout.
    fn interrupted(&self) -> ! {
        const PATIENCE: Duration = Duration::from_millis(500);
        let deadline = Instant::now() + PATIENCE;
        let mode = loop {
            match self.mode.try_lock() {
                Ok(mode) => break Some(mode),
                Err(TryLockError::Poisoned(poisoned)) => break Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => break None,
            }
        };
        if let Some(Mode::Chatting(stream)) = mode.as_deref() {
            let _ = stream.set_write_timeout(Some(PATIENCE));
            let _ = (&*stream).write_all(&Message::Quit.to_bytes());
            let _ = stream.shutdown(Shutdown::Both);
        }
        console::exit_now(0)
    }

    /// Sends QUIT to a chat peer and closes; the lock is held on.
    fn hang_up(&self) -> MutexGuard<'_, Mode> {
        let mode = self.lock();
        if let Mode::Chatting(stream) = &*mode {
            let _ = self.send(stream, &Message::Quit);
            let _ = stream.shutdown(Shutdown::Both);
        }
        mode
    }

    /// Takes calls; each is read on a thread of its own until it is a chat
    /// or is closed.
    fn accept_calls(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    // Out of descriptors, say: do not spin.
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let from = stream
                .peer_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string());
            if matches!(*self.lock(), Mode::Chatting(_)) {
                log::info!("closed a call from {from}: a chat is on");
                continue;
            }
            if self.callers.fetch_add(1, Ordering::SeqCst) >= MAX_CALLERS {
                self.callers.fetch_sub(1, Ordering::SeqCst);
                log::info!("closed a call from {from}: {MAX_CALLERS} calls already waiting");
                continue;
            }
            let me = Arc::clone(&self);
            let spawned = thread::Builder::new()
                .name("caller".into())
                .spawn(move || me.take_call(stream, &from));
            if let Err(e) = spawned {
                self.callers.fetch_sub(1, Ordering::SeqCst);
                log::warn!("cannot take a call: {e}");
            }
        }
    }

    /// Reads a call's first CHAT (within [`ANSWER_TIMEOUT`]) and, if we
    /// asked the server for a peer and no chat is on, makes it our chat.
    fn take_call(&self, stream: TcpStream, from: &str) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut frames = FrameBuffer::new(ChatDecoder::default());
        let mut trace = self.trace_in();
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let first = receive(&stream, &mut frames, Some(deadline), &mut trace);
        self.callers.fetch_sub(1, Ordering::SeqCst);
        let peer = match first {
            Ok(Some(Said::Start(peer))) => peer,
            Ok(Some(_)) => {
                log::warn!("closed a call from {from}: it did not begin with CHAT");
                return;
            }
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                log::warn!("closed a call from {from}: no complete CHAT within {ANSWER_TIMEOUT:?}");
                return;
            }
            Err(e) => {
                log::debug!("a call from {from} broke: {e}");
                return;
            }
        };
        let _ = stream.set_read_timeout(None);
        let writer = match stream.try_clone() {
            Ok(writer) => writer,
            Err(e) => {
                log::error!("cannot answer a call: {e}");
                return;
            }
        };
        let (id, ip, port) = (
            safe::escape(peer.client_id.as_bytes()),
            safe::escape(peer.ip.as_bytes()),
            safe::escape(peer.port.as_bytes()),
        );
        {
            let mut mode = self.lock();
            match *mode {
                Mode::Chatting(_) => return,
                Mode::Idle => {
                    note!(
                        self,
                        "Refused a chat request from {id} {ip}:{port}: /bridge first"
                    );
                    return;
                }
                Mode::Waiting | Mode::Paired(_) => {}
            }
            *mode = Mode::Chatting(writer);
        }
        // Printed outside the lock (stdout may be slow); this thread then
        // prints the chat, so the line comes first.
        self.out
            .print(format!("Incoming chat request from {id} {ip}:{port}\n"));
        self.read_chat(stream, frames, trace, peer);
    }

    /// Prints the peer's lines until it quits or vanishes, then ends the
    /// program.
    fn read_chat(
        &self,
        stream: TcpStream,
        mut frames: FrameBuffer<ChatDecoder>,
        mut trace: Trace,
        peer: Contact,
    ) -> ! {
        loop {
            match receive(&stream, &mut frames, None, &mut trace) {
                Ok(Some(Said::Text(text))) => {
                    let mut out = safe::escape(text.as_bytes());
                    out.push('\n');
                    self.out.print(out);
                }
                Ok(Some(Said::Quit)) => {
                    let _mode = self.lock();
                    let _ = stream.shutdown(Shutdown::Both);
                    // Stdout stays the contract's (nothing); stderr says
                    // why the program ends.
                    note!(
                        self,
                        "{} ended the chat (QUIT).",
                        safe::escape(peer.client_id.as_bytes())
                    );
                    self.out.exit(0);
                }
                Ok(Some(Said::Start(_))) => {
                    note!(
                        self,
                        "warning: skipped a second CHAT without a Message from the peer"
                    )
                }
                Ok(Some(Said::Unreadable(problem))) => {
                    note!(self, "warning: skipped {problem} from the peer")
                }
                Ok(None) => self.vanished(&peer),
                Err(e) => {
                    log::debug!("the peer's stream broke: {e}");
                    self.vanished(&peer);
                }
            }
        }
    }

    /// The peer's connection ended without QUIT: say so and end.
    fn vanished(&self, peer: &Contact) -> ! {
        let _mode = self.lock();
        let (id, ip, port) = (
            safe::escape(peer.client_id.as_bytes()),
            safe::escape(peer.ip.as_bytes()),
            safe::escape(peer.port.as_bytes()),
        );
        self.out
            .print(format!("Peer {id} at {ip}:{port} has disconnected\n"));
        self.out.exit(0)
    }

    /// One request to the server on a connection of its own, as the
    /// protocol wants: connect, send, read the answer, close, all within
    /// [`ANSWER_TIMEOUT`]. `None` when there is no answer (and the user has
    /// been told why). A server that cannot be reached before anything has
    /// come of the session means the client cannot start: exit 1.
    fn ask(&self, request: Message) -> Option<Message> {
        let ServerAddr { host, port } = &self.server;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let stream = match connect(host, *port) {
            Ok(stream) => stream,
            Err(e) => {
                self.out
                    .print(format!("Unable to connect to {host}:{port}\n"));
                note!(self, "({e})");
                let mode = self.lock();
                if matches!(*mode, Mode::Idle) {
                    self.out.exit(1);
                }
                return None;
            }
        };
        let mut frames = FrameBuffer::new(MessageDecoder::default());
        let mut trace = self.trace_in();
        let answer = match self.send(&stream, &request) {
            Ok(()) => receive(&stream, &mut frames, Some(deadline), &mut trace),
            Err(e) => Err(e),
        };
        match answer {
            Ok(Some(answer)) => Some(answer),
            Ok(None) => {
                note!(
                    self,
                    "The server at {host}:{port} closed the connection without answering"
                );
                None
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                note!(
                    self,
                    "No answer from the server at {host}:{port} within {ANSWER_TIMEOUT:?}; gave up"
                );
                None
            }
            Err(e) => {
                note!(self, "No answer from the server at {host}:{port}: {e}");
                None
            }
        }
    }

    fn unexpected_answer(&self, answer: &Message) {
        note!(self, "Unexpected answer from the server: {}", answer.kind());
    }

    /// Writes `message`, showing its bytes first with `-v`.
    fn send(&self, mut stream: &TcpStream, message: &Message) -> io::Result<()> {
        let bytes = message.to_bytes();
        let mut trace = Trace::new(&self.out, Dir::Sent, self.verbose);
        trace.blocks(&bytes);
        trace.end();
        stream.write_all(&bytes)
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
