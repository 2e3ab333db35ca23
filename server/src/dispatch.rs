//! The dispatcher: one thread that owns all dialect state and changes it in
//! one place.
//!
//! Reader threads, the acceptor, the signal thread and the stdin thread send
//! [`Event`]s; [`Dispatcher::handle`] applies each one to the [`Dialect`] and
//! the connection table. Nothing here blocks on a socket: replies go into
//! per-connection queues, sent after each batch of events by the writer
//! threads or, for a batch that reached few connections, by a non-blocking
//! send from this thread (see [`Conns::flush`]).

use std::time::{Duration, Instant};

use chat_protocol::Decoder;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::conns::{Conn, ConnId, Conns};
use crate::status;
use crate::trace::{self, Way};

/// A batch ends after this many events, or after this many queued
/// messages, whichever comes first. Big enough that a writer's wake-up
/// carries many messages (with 1,000 recipients, each writer gets up to 256
/// per wake-up), small enough that a burst is split into several batches, so
/// that the writers already send the first while the dispatcher handles the
/// next: on two cores, batches of 256 events relayed about 1.3 times as many
/// messages as batches of 1,024 (docs/PERFORMANCE.md). The message bound
/// keeps a batch to a few milliseconds however many recipients each event
/// has.
const BATCH_EVENTS: usize = 256;
const BATCH_MESSAGES: usize = 256 * 1024;

/// What a dialect decodes from its clients.
pub type Request<D> = <<D as Dialect>::Decoder as Decoder>::Item;
/// A fault after which a dialect's client stream cannot be followed.
pub type Malformed<D> = <<D as Dialect>::Decoder as Decoder>::Error;

/// One dialect's server side: its codec and how it answers.
///
/// This is the whole interface between the core and a dialect. Every method
/// runs on the dispatcher thread; `conns` is how the dialect reaches clients.
pub trait Dialect: Send + 'static {
    /// Decodes one client's stream; a fresh clone serves each connection.
    type Decoder: Decoder<Item: Send, Error: Send> + Clone + Send + 'static;

    /// Whether the server reads commands from its stdin for this dialect.
    const READS_STDIN: bool = false;

    /// How long a sender must pause, with bytes of an unfinished item
    /// pending, for the reader to tell the decoder so ([`Decoder::idle`]):
    /// lobby ends a line without LF after 200 ms. `None`: a pause means
    /// nothing, and the reader never sets a read timeout.
    const IDLE_AFTER: Option<Duration> = None;

    /// Which connections may be cut to make room for a newcomer when every
    /// slot is taken (contract, "Connection slots").
    const EVICTABLE: Evictable = Evictable::Unregistered;

    /// The decoder for a new connection.
    fn decoder(&self) -> Self::Decoder;

    /// Whether `request`, from a connection that is not registered, may
    /// register it, in a dialect whose decoder takes other limits once it
    /// is (room: 64 KiB of payload before joining). The reader then waits
    /// for the dispatcher's answer, [`registered`](Self::registered), before
    /// it decodes anything more, so that the limit on the next message is
    /// exactly the one for what the connection is.
    fn may_register(_request: &Request<Self>) -> bool {
        false
    }

    /// Tells a connection's decoder whether the connection is registered,
    /// on the reader's thread, between two messages (after a request that
    /// [`may_register`](Self::may_register)).
    fn registered(_decoder: &mut Self::Decoder, _registered: bool) {}

    /// `--trace`: the lines that show one message's bytes as they are on
    /// the wire (text lines unless the dialect says otherwise).
    fn trace(way: Way, bytes: &[u8], lines: &mut Vec<String>) {
        trace::lines(way, bytes, lines);
    }

    /// A connection was accepted.
    fn connected(&mut self, _conns: &mut Conns, _id: ConnId) {}

    /// A client sent a request.
    fn request(&mut self, conns: &mut Conns, id: ConnId, request: Request<Self>);

    /// A client sent something after which its stream cannot be followed.
    /// Send the dialect's error reply; the core then reports the connection
    /// as [`disconnected`](Self::disconnected) and closes it once the reply
    /// is written.
    fn malformed(&mut self, conns: &mut Conns, id: ConnId, error: Malformed<Self>) {
        conns.status(id, format_args!("malformed input: {error}"));
    }

    /// A connection ended without the dialect closing it (the peer closed or
    /// reset it, its queue overflowed, its login time ran out, its input was
    /// malformed): forget it and tell the others, as for a clean quit. It
    /// is closed already (and `fd N: connection closed` logged): nothing
    /// more reaches it.
    fn disconnected(&mut self, conns: &mut Conns, id: ConnId);

    /// The server is shutting down: tell the clients where the dialect has a
    /// way to, and write out any file it keeps. Nobody is told that others
    /// left.
    fn shutdown(&mut self, _conns: &mut Conns) {}

    /// A line typed on the server's stdin (only when
    /// [`READS_STDIN`](Self::READS_STDIN)).
    fn stdin(&mut self, _conns: &mut Conns, _line: &str) {}
}

/// Which connections the slot rule may cut, oldest first, once they have
/// been open for the slot age (10 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evictable {
    /// Those that have not registered (joined, logged in, named).
    Unregistered,
    /// Those not in the middle of a request (bridge, where a client makes
    /// one request per connection and registering is not a state).
    BetweenRequests,
}

/// Everything the dispatcher reacts to.
pub enum Event<D: Dialect> {
    /// The acceptor took a new connection.
    Connected(ConnId, Conn),
    /// A reader decoded a request.
    Request(ConnId, Request<D>),
    /// A reader met input it cannot follow; it has stopped reading.
    Malformed(ConnId, Malformed<D>),
    /// A reader saw end of stream or an error; it has stopped.
    Closed(ConnId),
    /// A line from the server's stdin.
    Stdin(String),
    /// The acceptor has a newcomer and every slot is taken: free one if the
    /// slot rule allows, and say whether it did.
    Full(Sender<bool>),
    /// SIGINT or SIGTERM.
    Shutdown,
}

/// Whether the dispatcher goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The dialect and the connection table, and the loop that feeds them.
pub struct Dispatcher<D> {
    pub dialect: D,
    pub conns: Conns,
}

impl<D: Dialect> Dispatcher<D> {
    pub fn new(dialect: D, conns: Conns) -> Self {
        Dispatcher { dialect, conns }
    }

    /// Traces every message the connections are sent (`--trace`).
    pub fn trace(&mut self) {
        self.conns.set_trace(D::trace);
    }

    /// Handles events until shutdown or until every sender is gone, cutting
    /// connections whose login time runs out in between.
    ///
    /// Events that are already waiting are handled as one batch, and the
    /// writers with new messages are woken (and the status lines written)
    /// once at the end of it: under load a writer then finds many messages
    /// for one `writev`, and when idle every event is its own batch.
    pub fn run(mut self, events: Receiver<Event<D>>) {
        status::defer();
        loop {
            let event = match self.conns.next_deadline() {
                // A dispatcher that is never idle must still cut connections
                // whose time is up, not only when it would wait for them.
                Some(deadline) if deadline <= Instant::now() => {
                    self.conns.expire(Instant::now());
                    self.report_dropped();
                    self.conns.flush();
                    continue;
                }
                Some(deadline) => match events.recv_deadline(deadline) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => {
                        self.conns.expire(Instant::now());
                        self.report_dropped();
                        self.conns.flush();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match events.recv() {
                    Ok(event) => event,
                    Err(_) => break,
                },
            };
            let mut flow = self.handle(event);
            let mut handled = 1;
            while flow == Flow::Continue
                && handled < BATCH_EVENTS
                && self.conns.queued() < BATCH_MESSAGES
            {
                let Ok(event) = events.try_recv() else { break };
                flow = self.handle(event);
                handled += 1;
            }
            self.conns.flush();
            if flow == Flow::Stop {
                break;
            }
        }
        self.conns.flush();
    }

    /// Applies one event.
    pub fn handle(&mut self, event: Event<D>) -> Flow {
        let conns = &mut self.conns;
        match event {
            Event::Connected(id, conn) => {
                let addr = conn.addr();
                conns.insert(id, conn);
                conns.status(id, format_args!("connection from {addr}"));
                self.dialect.connected(conns, id);
            }
            Event::Request(id, request) => {
                if conns.contains(id) {
                    let asks = D::may_register(&request);
                    self.dialect.request(conns, id, request);
                    if asks {
                        conns.answer_registration(id);
                    }
                }
            }
            // Every departure is logged alike, `fd N: connection closed`,
            // by `Conns::close` or `Conns::drop_conn`, before the dialect
            // logs who left.
            Event::Malformed(id, error) => {
                if conns.contains(id) {
                    self.dialect.malformed(conns, id, error);
                    if conns.contains(id) {
                        conns.close(id);
                        self.dialect.disconnected(conns, id);
                    }
                }
            }
            Event::Closed(id) => {
                if conns.contains(id) {
                    conns.close(id);
                    self.dialect.disconnected(conns, id);
                }
            }
            Event::Stdin(line) => self.dialect.stdin(conns, &line),
            Event::Full(answer) => {
                let freed = conns.free_slot(Instant::now(), D::EVICTABLE);
                let _ = answer.send(freed);
            }
            Event::Shutdown => {
                self.dialect.shutdown(conns);
                status::print(format_args!(
                    "shutting down, {} clients told",
                    conns.reached()
                ));
                conns.close_all();
                return Flow::Stop;
            }
        }
        self.report_dropped();
        Flow::Continue
    }

    /// Tells the dialect of connections cut while it ran; telling it may cut
    /// more (a departure announcement can overflow another queue).
    fn report_dropped(&mut self) {
        while let Some(id) = self.conns.next_dropped() {
            self.dialect.disconnected(&mut self.conns, id);
        }
        self.conns.end_event();
    }
}

/// Drives a dialect without sockets: feed it events, read what each client
/// was sent (the way lsp-server's `Connection::memory()` tests a server).
#[cfg(test)]
pub mod testing {
    use std::collections::HashMap;

    use super::*;
    use crate::outbox::Drain;

    pub struct Harness<D: Dialect> {
        pub dispatcher: Dispatcher<D>,
        drains: HashMap<ConnId, Drain>,
        next: u64,
        sendq: usize,
    }

    impl<D: Dialect> Harness<D> {
        pub fn new(dialect: D) -> Self {
            Harness::with_sendq(dialect, 1 << 20)
        }

        /// A harness whose connections have `sendq`-byte queues.
        pub fn with_sendq(dialect: D, sendq: usize) -> Self {
            Harness {
                dispatcher: Dispatcher::new(dialect, Conns::new(Some(Duration::from_secs(60)))),
                drains: HashMap::new(),
                next: 0,
                sendq,
            }
        }

        /// A new connection.
        pub fn connect(&mut self) -> ConnId {
            self.next += 1;
            let id = ConnId(self.next);
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + self.next as u16));
            let (conn, drain) = Conn::detached(100 + self.next as i32, addr, self.sendq);
            self.drains.insert(id, drain);
            self.dispatcher.handle(Event::Connected(id, conn));
            id
        }

        /// `id` sends `request`.
        pub fn request(&mut self, id: ConnId, request: Request<D>) {
            self.dispatcher.handle(Event::Request(id, request));
        }

        /// `id`'s peer closes the connection.
        pub fn hang_up(&mut self, id: ConnId) {
            self.dispatcher.handle(Event::Closed(id));
        }

        /// What `id` has been sent since the last look, as text.
        pub fn take(&mut self, id: ConnId) -> String {
            String::from_utf8_lossy(&self.take_bytes(id)).into_owned()
        }

        /// What `id` has been sent since the last look.
        pub fn take_bytes(&mut self, id: ConnId) -> Vec<u8> {
            self.drains[&id].take_now()
        }

        /// Whether the server has closed (or cut) `id`.
        pub fn is_closed(&self, id: ConnId) -> bool {
            self.drains[&id].is_closed()
        }
    }
}
