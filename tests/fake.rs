//! Fake servers and peers for the client tests (`hostile_clients.rs`,
//! `hostile_peers.rs`, `pty.rs`, `pty_rb.rs`): loopback listeners, and
//! bounded reads of what a client sends in each dialect's framing. Every
//! stream handed out has the test timeout as its read timeout, so no read
//! here waits without bound.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;

use chat_protocol::channels;
use chat_protocol::room::{Message, MessageDecoder};
use chat_protocol::FrameBuffer;

use crate::util::TIMEOUT;

/// A listener on a free loopback port: its port, and a receiver of its
/// connections (read timeout set), in the order they came.
pub fn listen() -> (u16, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            if tx.send(stream).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// The next connection to a [`listen`]er, waited for at most the test
/// timeout.
pub fn next(rx: &mpsc::Receiver<TcpStream>) -> TcpStream {
    rx.recv_timeout(TIMEOUT)
        .expect("the client never connected")
}

/// Runs `handle` for every connection to a fresh listener, each on a
/// thread of its own; gives the listener's address.
pub fn serve_each(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let (port, rx) = listen();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in rx {
            let handle = handle.clone();
            thread::spawn(move || handle(stream));
        }
    });
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Runs `serve` on the one connection to a fresh listener; gives its port
/// and a [`Served`] to wait for `serve` to finish (its panics, such as a
/// failed assertion on what the client sent, fail the test there).
pub fn serve_one(serve: impl FnOnce(TcpStream) + Send + 'static) -> (String, Served) {
    let (port, rx) = listen();
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(next(&rx))));
        let _ = tx.send(served);
    });
    (port.to_string(), Served { done })
}

/// A fake server started by [`serve_one`].
pub struct Served {
    done: mpsc::Receiver<thread::Result<()>>,
}

impl Served {
    /// Waits, bounded, for the fake server to finish, failing the test if
    /// it failed (or was never reached).
    pub fn join(self) {
        match self.done.recv_timeout(TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the fake server never finished (did the client connect?)"),
        }
    }
}

/// Reads up to and including the next LF (lobby), lossily as text.
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        stream
            .read_exact(&mut byte)
            .expect("read a line from the client");
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Reads exactly `n` bytes (a channels record, a direct frame).
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read from the client");
    buf
}

/// One 200-byte channels record of `text`, padded with spaces as the
/// course's readline clients pad it.
pub fn record(text: &[u8]) -> Vec<u8> {
    let mut record = text.to_vec();
    record.resize(channels::RECORD, b' ');
    record
}

/// Reads up to the end of one bridge block (an empty line, CRLF or LF);
/// what was read, also when the stream ended or timed out first.
pub fn read_block(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !(got.ends_with(b"\r\n\r\n") || got.ends_with(b"\n\n")) {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    got
}

/// A decoder of what a room client sends (one per connection: a read may
/// carry more than one message).
pub fn room_frames() -> FrameBuffer<MessageDecoder> {
    FrameBuffer::new(MessageDecoder::new(1 << 20))
}

/// Reads the next room message through `frames`; `None` when the stream
/// ended or timed out first.
pub fn read_message(
    stream: &mut TcpStream,
    frames: &mut FrameBuffer<MessageDecoder>,
) -> Option<Message> {
    loop {
        if let Ok(Some(message)) = frames.next_item() {
            return Some(message);
        }
        match stream.read(frames.space()) {
            Ok(0) | Err(_) => return None,
            Ok(n) => frames.filled(n),
        }
    }
}
