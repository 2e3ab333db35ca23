//! One benchmark client: a socket, the dialect it speaks (lobby or IRC), and
//! the partial line left over from its last read.
//!
//! Setup (connect, register, join the channel) uses blocking reads with a
//! timeout; the measured phases switch sockets to non-blocking and feed the
//! bytes they read through [`Client::lines`]. Every client answers an IRC
//! `PING` so that a peer never drops it for idleness.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The channel every IRC client of the benchmark joins.
pub const CHANNEL: &str = "#bench";
/// How long one setup step may wait for the server.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Clients connected and registered before the next batch starts.
const BATCH: usize = 100;
/// Earlier clients are drained after this many new ones.
const DRAIN_EVERY: usize = 500;

/// The wire dialect of a target server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Our server's lobby dialect: JOIN, BCST, MESG, LIST.
    Lobby,
    /// RFC 1459 IRC: NICK/USER, JOIN #bench, PRIVMSG.
    Irc,
}

impl Proto {
    /// The request that sends `payload` to everyone else in the room.
    pub fn broadcast(self, payload: &str, out: &mut Vec<u8>) {
        match self {
            Proto::Lobby => out.extend_from_slice(format!("BCST {payload}\n").as_bytes()),
            Proto::Irc => {
                out.extend_from_slice(format!("PRIVMSG {CHANNEL} :{payload}\r\n").as_bytes())
            }
        }
    }

    /// The request that sends `payload` to `to` alone.
    pub fn direct(self, to: &str, payload: &str, out: &mut Vec<u8>) {
        match self {
            Proto::Lobby => out.extend_from_slice(format!("MESG {to} {payload}\n").as_bytes()),
            Proto::Irc => out.extend_from_slice(format!("PRIVMSG {to} :{payload}\r\n").as_bytes()),
        }
    }
}

/// Unique names for the whole process, so that a name released by a closed
/// connection is never needed again while the server may still hold it.
pub fn fresh_name(prefix: char) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub struct Client {
    pub stream: TcpStream,
    pub name: String,
    proto: Proto,
    /// Bytes after the last complete line.
    pending: Vec<u8>,
}

impl Client {
    /// Connects and sends the registration (lobby `JOIN`; IRC `NICK`/`USER`)
    /// without waiting for the answer.
    fn start(addr: SocketAddr, proto: Proto, name: String) -> io::Result<Client> {
        let stream = connect_from_many(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(STEP_TIMEOUT))?;
        let mut client = Client {
            stream,
            name,
            proto,
            pending: Vec::new(),
        };
        let hello = match proto {
            Proto::Lobby => format!("JOIN {}\n", client.name),
            Proto::Irc => format!("NICK {0}\r\nUSER {0} 0 * :bench\r\n", client.name),
        };
        client.stream.write_all(hello.as_bytes())?;
        Ok(client)
    }

    /// Waits until registration is confirmed.
    fn finish_registration(&mut self) -> io::Result<()> {
        match self.proto {
            Proto::Lobby => {
                let want = format!("{} joined!", self.name);
                self.wait_for(|line| line == want.as_bytes())
            }
            // End of MOTD, or no MOTD: the registration burst is over.
            Proto::Irc => {
                self.wait_for(|line| has_numeric(line, "376") || has_numeric(line, "422"))
            }
        }
    }

    /// Connects one client, registers it, and (IRC, when `join`) joins
    /// the channel.
    pub fn open(addr: SocketAddr, proto: Proto, name: String, join: bool) -> io::Result<Client> {
        let mut client = Client::start(addr, proto, name)?;
        client.finish_registration()?;
        if join {
            client.join_channel()?;
        }
        Ok(client)
    }

    fn join_channel(&mut self) -> io::Result<()> {
        if self.proto == Proto::Irc {
            self.stream
                .write_all(format!("JOIN {CHANNEL}\r\n").as_bytes())?;
            self.wait_for(|line| has_numeric(line, "366"))?;
        }
        Ok(())
    }

    /// Reads lines (blocking, with the setup timeout) until `done` accepts
    /// one; what follows it stays pending.
    pub fn wait_for(&mut self, mut done: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let line = trim_eol(&line);
                if let Some(token) = line.strip_prefix(b"PING ") {
                    self.pong(token);
                }
                if done(line) {
                    return Ok(());
                }
                continue;
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(ErrorKind::TimedOut, "no answer in time"));
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Splits `data` (just read) into complete lines, joining it to what was
    /// pending, and calls `each` with every line (without its end of line).
    /// Answers IRC `PING`s on the way.
    pub fn lines(&mut self, data: &[u8], mut each: impl FnMut(&[u8])) {
        let mut rest = data;
        if !self.pending.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    self.pending.extend_from_slice(&rest[..end]);
                    rest = &rest[end + 1..];
                    let line = std::mem::take(&mut self.pending);
                    self.line(trim_eol(&line), &mut each);
                }
                None => {
                    self.pending.extend_from_slice(rest);
                    return;
                }
            }
        }
        // memchr, not a byte-by-byte search: splitting lines was a tenth of
        // the machine's CPU in a fanout run, taken from the server measured.
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.line(trim_eol(&rest[..end]), &mut each);
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
    }

    fn line(&mut self, line: &[u8], each: &mut impl FnMut(&[u8])) {
        if let Some(token) = line.strip_prefix(b"PING ") {
            self.pong(token);
        } else {
            each(line);
        }
    }

    fn pong(&mut self, token: &[u8]) {
        let mut pong = b"PONG ".to_vec();
        pong.extend_from_slice(token);
        pong.extend_from_slice(b"\r\n");
        // A short control line; on a non-blocking socket it fits the send
        // buffer, and a lost PONG only matters minutes later.
        let _ = self.stream.write_all(&pong);
    }

    /// Reads and discards whatever has arrived, without blocking.
    pub fn drain(&mut self) -> io::Result<()> {
        self.stream.set_nonblocking(true)?;
        let mut buf = [0u8; 16 * 1024];
        let result = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    let data = buf[..n].to_vec();
                    self.lines(&data, |_| {});
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        result
    }

    /// Writes all of `bytes` to a non-blocking socket, waiting briefly
    /// whenever its send buffer is full.
    pub fn write_all_nonblocking(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(50))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Connects to `addr` from the next of many loopback source addresses
/// (127.1.x.y), as users arrive from many hosts, so that no per-address
/// limit of a server is what gets measured.
fn connect_from_many(addr: SocketAddr) -> io::Result<TcpStream> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if !addr.is_ipv4() {
        return TcpStream::connect_timeout(&addr, STEP_TIMEOUT);
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let source = std::net::Ipv4Addr::new(127, 1, ((n / 250) % 250) as u8, (n % 250 + 1) as u8);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(&addr.into(), STEP_TIMEOUT)?;
    Ok(socket.into())
}

/// Opens `count` registered clients (joined to the channel when `join`), in
/// pipelined batches, discarding what the earlier ones are sent meanwhile
/// (lobby announces every join to everyone).
pub fn open_many(
    addr: SocketAddr,
    proto: Proto,
    prefix: char,
    count: usize,
    join: bool,
) -> io::Result<Vec<Client>> {
    let mut clients: Vec<Client> = Vec::with_capacity(count);
    while clients.len() < count {
        let first = clients.len();
        let batch = BATCH.min(count - first);
        for _ in 0..batch {
            clients.push(Client::start(addr, proto, fresh_name(prefix))?);
        }
        for client in &mut clients[first..] {
            client.finish_registration()?;
        }
        if join && proto == Proto::Irc {
            for client in &mut clients[first..] {
                client
                    .stream
                    .write_all(format!("JOIN {CHANNEL}\r\n").as_bytes())?;
            }
            for client in &mut clients[first..] {
                client.wait_for(|line| has_numeric(line, "366"))?;
            }
        }
        // Lobby announces every join to everyone: read those lines now and
        // then, so they never pile up in the kernel's buffers.
        if clients.len() % DRAIN_EVERY == 0 || clients.len() == count {
            for client in &mut clients[..first] {
                client.drain()?;
            }
        }
    }
    Ok(clients)
}

/// Whether `line` is the IRC numeric reply `code` (`:server 001 nick ...`).
pub fn has_numeric(line: &[u8], code: &str) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let first = words.next();
    let second = words.next();
    matches!((first, second), (Some(p), Some(c)) if p.starts_with(b":") && c == code.as_bytes())
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
