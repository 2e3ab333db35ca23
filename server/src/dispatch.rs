//! The dispatcher: one thread that owns all dialect state and changes it in
//! one place.
//!
//! Reader threads, the acceptor, the signal thread and the stdin thread send
//! [`Event`]s; [`Dispatcher::handle`] applies each one to the [`Dialect`] and
//! the connection table. Nothing here blocks on a socket: replies go into
//! per-connection queues, sent after each batch of events by the writer
//! threads or, for a batch that reached few connections, by a non-blocking
//! send from this thread (see [`Conns::flush`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_protocol::Decoder;
use crossbeam_channel::{select, unbounded, Receiver, Sender};

use crate::conns::{Conn, ConnId, Conns};
use crate::disk::{self, Disk, Done, Job};
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

    /// Whether the reader waits, after `request`, for the dispatcher's
    /// go-ahead before it decodes more (bridge: a REGISTER, whose REGACK
    /// waits for the disk and must come before the next answer; room: a
    /// text or an attachment, which may wait behind an attachment being
    /// written). Never a request that [`may_register`](Self::may_register). The dispatcher gives it when it has handled the
    /// request, unless the dialect held it ([`Conns::hold_answer`]) and
    /// gives it later ([`Conns::answer_registration`]).
    fn holds(_request: &Request<Self>) -> bool {
        false
    }

    /// The dialect's way to the disk thread, given once before any event.
    fn attach(&mut self, _disk: Disk<Self>)
    where
        Self: Sized,
    {
    }

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
    /// The disk thread finished a job: apply its result.
    Disk(Done<D>),
    /// SIGINT or SIGTERM.
    Shutdown,
}

/// How long shutdown waits for the disk jobs still queued.
const DISK_GRACE: Duration = Duration::from_secs(1);

/// Whether the dispatcher goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// The dialect and the connection table, and the loop that feeds them.
pub struct Dispatcher<D: Dialect> {
    pub dialect: D,
    pub conns: Conns,
    /// The disk thread's jobs, and its results.
    jobs: Sender<Job>,
    done: Receiver<Event<D>>,
    /// Disk jobs given and not finished.
    outstanding: Arc<AtomicUsize>,
}

impl<D: Dialect> Dispatcher<D> {
    /// A dispatcher with a disk thread of its own.
    pub fn new(dialect: D, conns: Conns) -> Self {
        let (jobs, queue) = crossbeam_channel::bounded(disk::JOBS);
        disk::start(queue);
        Dispatcher::with_jobs(dialect, conns, jobs)
    }

    /// A dispatcher whose disk jobs go to `jobs`, for whoever runs them
    /// (the disk thread; a test that stalls them).
    pub fn with_jobs(mut dialect: D, conns: Conns, jobs: Sender<Job>) -> Self {
        let (results, done) = unbounded();
        let outstanding = Arc::new(AtomicUsize::new(0));
        dialect.attach(Disk::new(jobs.clone(), results, outstanding.clone()));
        Dispatcher {
            dialect,
            conns,
            jobs,
            done,
            outstanding,
        }
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
        let done = self.done.clone();
        loop {
            let deadline = self.conns.next_deadline();
            let timeout = match deadline {
                // A dispatcher that is never idle must still cut connections
                // whose time is up, not only when it would wait for them.
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            let event = if timeout.is_zero() {
                None
            } else {
                select! {
                    recv(events) -> event => match event {
                        Ok(event) => Some(event),
                        Err(_) => break,
                    },
                    recv(done) -> event => event.ok(),
                    default(timeout) => None,
                }
            };
            let Some(event) = event else {
                self.conns.expire(Instant::now());
                self.report_dropped();
                self.conns.flush();
                continue;
            };
            let mut flow = self.handle(event);
            let mut handled = 1;
            while flow == Flow::Continue
                && handled < BATCH_EVENTS
                && self.conns.queued() < BATCH_MESSAGES
            {
                let Ok(event) = done.try_recv().or_else(|_| events.try_recv()) else {
                    break;
                };
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
                    // The reader waits for an answer after exactly these.
                    let asks = D::holds(&request)
                        || (!conns.is_registered(id) && D::may_register(&request));
                    self.dialect.request(conns, id, request);
                    let held = conns.take_hold(id);
                    if asks && !held {
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
            Event::Disk(done) => done(&mut self.dialect, conns),
            Event::Shutdown => {
                // What waits for the disk goes out first (REGACKs, relays),
                // then the dialect's last files; the wait is bounded.
                let deadline = Instant::now() + DISK_GRACE;
                self.finish_disk(deadline);
                self.dialect.shutdown(&mut self.conns);
                self.finish_disk(deadline);
                let conns = &mut self.conns;
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

    /// Applies the results of every disk job given so far, waiting for them
    /// until `deadline` at most.
    fn finish_disk(&mut self, deadline: Instant) {
        if self.outstanding.load(Ordering::Acquire) == 0 {
            while let Ok(event) = self.done.try_recv() {
                self.handle(event);
            }
            return;
        }
        let (mark, marked) = crossbeam_channel::bounded::<()>(1);
        let barrier: Job = Box::new(move || {
            let _ = mark.send(());
        });
        if let Err(crossbeam_channel::SendTimeoutError::Disconnected(job)) =
            self.jobs.send_deadline(barrier, deadline)
        {
            job();
        }
        let done = self.done.clone();
        loop {
            let timeout = deadline.saturating_duration_since(Instant::now());
            select! {
                recv(done) -> event => match event {
                    Ok(event) => { self.handle(event); }
                    Err(_) => break,
                },
                recv(marked) -> _ => break,
                default(timeout) => break,
            }
        }
        // Results sent before the barrier ran.
        while let Ok(event) = done.try_recv() {
            self.handle(event);
        }
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
        /// The disk jobs given and not run yet.
        jobs: Receiver<Job>,
        /// Whether the disk is stalled: jobs wait until `run_disk`. When it
        /// is not, every step runs them all, as a fast disk would.
        pub stalled: bool,
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
            let (jobs, queue) = crossbeam_channel::bounded(disk::JOBS);
            let conns = Conns::new(Some(Duration::from_secs(60)));
            Harness {
                dispatcher: Dispatcher::with_jobs(dialect, conns, jobs),
                jobs: queue,
                stalled: false,
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
            self.settle();
            id
        }

        /// Runs the disk jobs and applies their results, as the disk thread
        /// and the dispatcher would, until none is left; returns how many
        /// ran.
        pub fn run_disk(&mut self) -> usize {
            let mut ran = 0;
            loop {
                let mut any = false;
                while let Ok(job) = self.jobs.try_recv() {
                    job();
                    ran += 1;
                    any = true;
                }
                while let Ok(event) = self.dispatcher.done.try_recv() {
                    self.dispatcher.handle(event);
                    any = true;
                }
                if !any {
                    return ran;
                }
            }
        }

        fn settle(&mut self) {
            if !self.stalled {
                self.run_disk();
            }
        }

        /// `id` sends `request`.
        pub fn request(&mut self, id: ConnId, request: Request<D>) {
            self.dispatcher.handle(Event::Request(id, request));
            self.settle();
        }

        /// `id`'s peer closes the connection.
        pub fn hang_up(&mut self, id: ConnId) {
            self.dispatcher.handle(Event::Closed(id));
            self.settle();
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
