//! The connection table: what the dispatcher knows of every open connection,
//! and the only way a dialect talks to clients.
//!
//! A dialect never sees a socket. It sends bytes to a [`ConnId`] with
//! [`Conns::send`], ends a connection with [`Conns::close`], and prints status
//! lines with [`Conns::status`]. Sending never blocks: a client whose queue
//! would overflow is cut off on the spot and reported back to the dialect as
//! disconnected once the current handler returns.
//!
//! Sending does not wake writer threads either: the dispatcher calls
//! [`Conns::flush`] after a batch of events, which wakes each writer that
//! has new messages once and writes out the batch's status lines.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::dispatch::Evictable;
use crate::outbox::{outbox, Bytes, Drain, Message, Outbox, Overflow};
use crate::status;
use crate::trace::{self, Formatter, Way};

/// A flush that reaches at most this many connections writes to them on
/// the dispatcher thread; one that reaches more wakes their writers. Chosen
/// by measurement on two cores (docs/PERFORMANCE.md): since each queue is
/// one contiguous buffer, a send costs the dispatcher less than waking a
/// writer to make it, up to a few hundred recipients (a broadcast to 100
/// went 1.6 times as fast with 256 as with 64); a broadcast to 1,000 is
/// still faster spread over the writers.
const WRITE_NOW_CONNS: usize = 256;

/// How long a connection the server closed may take to read its last
/// bytes when there is no `--login-timeout`: a peer that never reads must
/// not hold its threads and slot for ever.
const CLOSE_GRACE: Duration = Duration::from_secs(60);

/// How many more login deadlines (or closing connections) than open
/// connections the table keeps before it sweeps the stale ones out.
const SWEEP_SLACK: usize = 1024;

/// How long a connection must have been open before the slot rule may cut
/// it to make room for a newcomer (contract, "Connection slots").
pub const SLOT_AGE: Duration = Duration::from_secs(10);

/// Names one connection for its whole life. Unlike the socket's file
/// descriptor, which the kernel reuses, an id is never reused, so an event
/// from a connection that is already gone can never reach its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A map keyed by [`ConnId`], hashed cheaply. The dispatcher looks up every
/// recipient of every message, and the standard library's hash, built to
/// resist keys chosen by an attacker, was a twentieth of the server's time
/// in a broadcast. Ids are handed out by the server in order, never chosen
/// by a peer, so one multiplication spreads them well enough.
pub type IdMap<V> = HashMap<ConnId, V, BuildHasherDefault<IdHasher>>;

/// The hash of [`IdMap`]: Fibonacci hashing of the id.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One open connection, as the dispatcher holds it.
#[derive(Debug)]
pub struct Conn {
    fd: i32,
    addr: SocketAddr,
    outbox: Outbox,
    /// Kept so that the dispatcher can cut a connection (shutdown is not a
    /// blocking call) while its writer may be stuck in `write`. `None` in
    /// dispatcher tests, which have no sockets.
    socket: Option<Arc<TcpStream>>,
    registered: bool,
    /// The event ([`Conns::epoch`]) in which a message last went into this
    /// connection's empty queue: what else that event queues for it belongs
    /// to the same step and is taken whatever the bound.
    step: u64,
    /// The event in which a message was last queued for this connection.
    touched: u64,
    /// When it was accepted, for the slot rule.
    opened: Instant,
    /// Set by the reader while it holds part of a request: such a
    /// connection is "in the middle of a request" for the slot rule.
    mid_request: Arc<AtomicBool>,
    /// Where the reader, after a request that may register the connection
    /// ([`Dialect::may_register`](crate::dispatch::Dialect::may_register)),
    /// waits to hear whether it did. One answer per such request; dropped
    /// with the connection, which also ends the reader's wait.
    registration: Sender<bool>,
}

impl Conn {
    /// A connection over `socket`, and the writer's end of its queue.
    /// The reader sets `mid_request` while it holds part of a request.
    /// The reader hears on `registration` whether a request that may
    /// register the connection did.
    pub fn new(
        fd: i32,
        addr: SocketAddr,
        sendq: usize,
        socket: Arc<TcpStream>,
        mid_request: Arc<AtomicBool>,
        registration: Sender<bool>,
    ) -> (Conn, Drain) {
        let (mut conn, drain) = Conn::detached(fd, addr, sendq);
        conn.socket = Some(socket);
        conn.mid_request = mid_request;
        conn.registration = registration;
        (conn, drain)
    }

    /// A connection with no socket: the test reads what is sent from the
    /// returned [`Drain`].
    /// [`detached`](Self::detached), with the answers its reader would
    /// wait for ([`Conns::answer_registration`]) given to the test.
    #[cfg(test)]
    pub fn detached_with_answers(
        fd: i32,
        addr: SocketAddr,
        sendq: usize,
    ) -> (Conn, Drain, crossbeam_channel::Receiver<bool>) {
        let (mut conn, drain) = Conn::detached(fd, addr, sendq);
        let (answers, heard) = crossbeam_channel::bounded(1);
        conn.registration = answers;
        (conn, drain, heard)
    }

    pub fn detached(fd: i32, addr: SocketAddr, sendq: usize) -> (Conn, Drain) {
        let (outbox, drain) = outbox(sendq);
        let conn = Conn {
            fd,
            addr,
            outbox,
            socket: None,
            registered: false,
            step: 0,
            touched: 0,
            opened: Instant::now(),
            mid_request: Arc::new(AtomicBool::new(false)),
            // Nobody listens: answers go nowhere.
            registration: crossbeam_channel::bounded(1).0,
        };
        (conn, drain)
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Hands what was queued to the kernel at once if the writer is idle
    /// (a non-blocking send), and wakes the writer for whatever is left.
    fn flush(&self) {
        let left = match &self.socket {
            Some(socket) => self.outbox.write_now(|slices| send_now(socket, slices)),
            None => true,
        };
        if left {
            self.outbox.wake();
        }
    }

    /// Ends the connection at once: drop its queue and wake both its threads.
    fn cut(&self) {
        self.outbox.close_now();
        if let Some(socket) = &self.socket {
            abort(socket);
        }
    }
}

/// Sends what `socket`'s buffer has room for now, never waiting for room.
fn send_now(socket: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    socket2::SockRef::from(socket)
        .send_vectored_with_flags(slices, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
}

/// Shuts `socket` both ways and makes its last close a reset. A plain FIN
/// is not enough for a peer that was flooding: once the reader has drained
/// what had arrived, the close sends no reset, and the kernel keeps the
/// socket orphaned (FIN-WAIT-2, for `tcp_fin_timeout`) advertising a zero
/// window, so the peer's writes hang instead of failing.
fn abort(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
    let _ = socket.shutdown(Shutdown::Both);
}

/// Every open connection, owned by the dispatcher thread.
#[derive(Debug)]
pub struct Conns {
    map: IdMap<Conn>,
    /// A reader's go-ahead the dialect keeps for later (`hold_answer`).
    held: Option<ConnId>,
    /// Connections cut while a handler ran (their queue overflowed); the
    /// dispatcher reports them to the dialect when the handler returns.
    dropped: Vec<ConnId>,
    /// Login deadlines in accept order; as the timeout is the same for all,
    /// this is also deadline order.
    deadlines: VecDeque<(Instant, ConnId)>,
    /// `--login-timeout`; `None` (the default) cuts nobody for being idle.
    login_timeout: Option<Duration>,
    /// Connections the dialect closed while bytes were still queued for
    /// them, with when to give up on the peer reading those bytes. A peer
    /// that stops reading and never closes would otherwise hold its writer
    /// (blocked in `write`), its reader and its `--max-connections` slot for
    /// ever, out of reach of the login timeout. Weak, so that a connection
    /// whose threads have ended is simply skipped.
    closing: VecDeque<(Instant, Weak<TcpStream>)>,
    /// File descriptors of connections removed during the current event, so
    /// that status lines about their departure still name them.
    departed: IdMap<i32>,
    /// Connections whose queue went from empty to not empty since the last
    /// [`flush`](Self::flush): their writers may be asleep.
    to_wake: Vec<ConnId>,
    /// Messages queued since the last flush.
    queued: usize,
    /// Counts events: a step is what one event queues for one connection.
    epoch: u64,
    /// How long a connection must be open before the slot rule may cut it:
    /// [`SLOT_AGE`], shorter in tests.
    slot_age: Duration,
    /// `--trace`: the dialect's formatter for what is queued.
    trace: Option<Formatter>,
}

impl Conns {
    /// An empty table whose connections must register within
    /// `login_timeout`, if one is given.
    pub fn new(login_timeout: Option<Duration>) -> Conns {
        Conns {
            map: IdMap::default(),
            held: None,
            dropped: Vec::new(),
            deadlines: VecDeque::new(),
            login_timeout,
            closing: VecDeque::new(),
            departed: IdMap::default(),
            to_wake: Vec::new(),
            queued: 0,
            epoch: 1,
            slot_age: SLOT_AGE,
            trace: None,
        }
    }

    /// Traces every message queued from now on with `formatter`.
    pub fn set_trace(&mut self, formatter: Formatter) {
        self.trace = Some(formatter);
    }

    /// Sets how long a connection must be open before the slot rule may
    /// cut it (tests and `--slot-age`).
    pub fn set_slot_age(&mut self, age: Duration) {
        self.slot_age = age;
    }

    /// Every slot is taken and a newcomer waits: cuts the oldest connection
    /// that `evictable` allows and that has been open for the slot age,
    /// with a status line, and says whether there was one. It is reported
    /// to the dialect as disconnected, like any departure.
    ///
    /// A scan of the table, but only when the server is full: a cost of
    /// the newcomer, never of ordinary traffic.
    pub(crate) fn free_slot(&mut self, now: Instant, evictable: Evictable) -> bool {
        let age = self.slot_age;
        let victim = self
            .map
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.opened) >= age)
            .filter(|(_, c)| match evictable {
                Evictable::Unregistered => !c.registered,
                Evictable::BetweenRequests => !c.mid_request.load(Ordering::Relaxed),
            })
            .min_by_key(|(&id, c)| (c.opened, id))
            .map(|(&id, _)| id);
        let Some(victim) = victim else {
            return false;
        };
        let what = match evictable {
            Evictable::Unregistered => "unregistered",
            Evictable::BetweenRequests => "idle",
        };
        self.status(
            victim,
            format_args!("every slot taken, cutting the oldest {what} connection to make room"),
        );
        self.drop_conn(victim);
        true
    }

    /// Adds a newly accepted connection.
    pub fn insert(&mut self, id: ConnId, conn: Conn) {
        // A timeout too large for the clock is no deadline at all (the
        // command line refuses such values; this keeps the core from
        // panicking on any).
        if let Some(deadline) = self
            .login_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout))
        {
            self.deadlines.push_back((deadline, id));
        }
        self.map.insert(id, conn);
        // Entries of connections that registered or left are popped only
        // from the front; behind one that idles for the whole timeout they
        // would pile up with every connect, so they are swept once they
        // outnumber the open connections (amortised: each sweep at least
        // halves the queue).
        if self.deadlines.len() > 2 * self.map.len() + SWEEP_SLACK {
            let map = &self.map;
            self.deadlines
                .retain(|(_, id)| map.get(id).is_some_and(|c| !c.registered));
        }
    }

    /// Whether `id` is open.
    pub fn contains(&self, id: ConnId) -> bool {
        self.map.contains_key(&id)
    }

    /// The ids of every open connection, in no particular order.
    pub fn ids(&self) -> Vec<ConnId> {
        self.map.keys().copied().collect()
    }

    /// The socket file descriptor of `id` (-1 once it is gone), for status
    /// lines.
    pub fn fd(&self, id: ConnId) -> i32 {
        match self.map.get(&id) {
            Some(conn) => conn.fd,
            None => self.departed.get(&id).copied().unwrap_or(-1),
        }
    }

    /// The peer address of `id`, while it is open.
    pub fn addr(&self, id: ConnId) -> Option<SocketAddr> {
        self.map.get(&id).map(Conn::addr)
    }

    /// Prints the status line `fd N: <what>` for `id`.
    pub fn status(&self, id: ConnId, what: fmt::Arguments<'_>) {
        status::print(format_args!("fd {}: {what}", self.fd(id)));
    }

    /// Marks `id` as registered (joined, logged in, named): the login timeout
    /// no longer applies to it.
    pub fn set_registered(&mut self, id: ConnId) {
        if let Some(conn) = self.map.get_mut(&id) {
            conn.registered = true;
        }
    }

    /// Whether `id` has registered.
    pub fn is_registered(&self, id: ConnId) -> bool {
        self.map.get(&id).is_some_and(|conn| conn.registered)
    }

    /// Keeps the go-ahead for the request being handled from `id`'s
    /// reader (see [`Dialect::holds`](crate::dispatch::Dialect::holds)):
    /// the dialect gives it later with
    /// [`answer_registration`](Self::answer_registration).
    pub fn hold_answer(&mut self, id: ConnId) {
        self.held = Some(id);
    }

    /// Whether the dialect held `id`'s answer while handling its request.
    pub(crate) fn take_hold(&mut self, id: ConnId) -> bool {
        self.held.take() == Some(id)
    }

    /// Tells `id`'s reader, which waits after a request that may register
    /// the connection (or one the dialect holds it after), whether it is
    /// registered now. Never blocks: the reader waits for one answer per
    /// such request and the dispatcher gives one per such request, so the
    /// one-place channel has room whenever it waits.
    pub(crate) fn answer_registration(&self, id: ConnId) {
        if let Some(conn) = self.map.get(&id) {
            let _ = conn.registration.try_send(conn.registered);
        }
    }

    /// Queues `msg` for `id`. A client whose queue would overflow is cut off
    /// and reported to the dialect as disconnected after the current handler.
    /// Sending to a connection that is gone does nothing.
    pub fn send(&mut self, id: ConnId, msg: &Bytes) {
        self.queue(id, Message::Shared(msg));
    }

    /// Queues `msg` for `id`; for replies to one client.
    pub fn reply(&mut self, id: ConnId, msg: Vec<u8>) {
        self.queue(id, Message::Own(msg));
    }

    /// What [`send`](Self::send) and [`reply`](Self::reply) share.
    ///
    /// Everything one event queues for a connection whose queue was empty
    /// is one step and is taken whole: a reply and what follows it (a room
    /// JOIN_ACCEPT carrying a long history, then NEW_USER) never cut the
    /// client for the sum passing `--sendq`. What a step adds is bounded by
    /// what one event can produce, so the bound still holds across events.
    fn queue(&mut self, id: ConnId, msg: Message<'_>) {
        let epoch = self.epoch;
        let Some(conn) = self.map.get_mut(&id) else {
            return;
        };
        if let Some(formatter) = self.trace {
            let bytes = match &msg {
                Message::Own(bytes) => &bytes[..],
                Message::Shared(bytes) => &bytes[..],
            };
            trace::print(conn.fd, Way::Sent, bytes, formatter);
        }
        match conn.outbox.push_in_step(msg, conn.step == epoch) {
            Ok(pushed) => {
                if pushed.into_empty {
                    conn.step = epoch;
                }
                conn.touched = epoch;
                self.queued += 1;
                if pushed.was_empty {
                    self.to_wake.push(id);
                }
            }
            Err(Overflow) => {
                let limit = conn.outbox.limit();
                self.status(
                    id,
                    format_args!("send queue exceeded ({limit} bytes), disconnecting"),
                );
                self.drop_conn(id);
            }
        }
    }

    /// Messages queued since the last [`flush`](Self::flush).
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Sends the messages queued since the last flush, and writes out the
    /// status lines printed meanwhile. The dispatcher calls this after each
    /// batch of events, before it waits for the next one.
    ///
    /// When the batch reached few connections, the dispatcher writes to
    /// them itself, without waiting (what the kernel does not take at once
    /// is left to the writer, which is woken): a request answered or
    /// relayed to one client then costs no thread wake-up. When it reached
    /// many, their writers are woken instead and write in parallel, on
    /// every core, while the dispatcher goes on.
    pub(crate) fn flush(&mut self) {
        let write_now = self.to_wake.len() <= WRITE_NOW_CONNS;
        for id in self.to_wake.drain(..) {
            // A connection closed meanwhile was woken by its closing.
            if let Some(conn) = self.map.get(&id) {
                if write_now {
                    conn.flush();
                } else {
                    conn.outbox.wake();
                }
            }
        }
        self.queued = 0;
        status::flush();
    }

    /// Closes `id` once what is queued for it is written, and logs `fd N:
    /// connection closed`, as [`drop_conn`](Self::drop_conn) does: every
    /// departure, whoever ends it, is logged once and alike. No disconnect
    /// is reported for it (the dialect closed it, or the core tells the
    /// dialect next).
    pub fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.map.remove(&id) {
            conn.outbox.close_when_drained();
            if let (Some(socket), true) = (&conn.socket, conn.outbox.is_pending()) {
                // A closed connection gets as long to take its last bytes as
                // a new one gets to register, and without a login timeout
                // a fixed grace.
                let grace = self.login_timeout.unwrap_or(CLOSE_GRACE);
                if let Some(deadline) = Instant::now().checked_add(grace) {
                    self.closing.push_back((deadline, Arc::downgrade(socket)));
                }
                // As for login deadlines: those whose threads have ended
                // are swept before they pile up behind a slow reader.
                if self.closing.len() > 2 * self.map.len() + SWEEP_SLACK {
                    self.closing.retain(|(_, socket)| socket.strong_count() > 0);
                }
            }
            self.departed.insert(id, conn.fd);
            self.status(id, format_args!("connection closed"));
        }
    }

    /// Cuts `id` at once and reports it to the dialect as disconnected.
    pub fn drop_conn(&mut self, id: ConnId) {
        if let Some(conn) = self.map.remove(&id) {
            conn.cut();
            self.departed.insert(id, conn.fd);
            self.status(id, format_args!("connection closed"));
            self.dropped.push(id);
        }
    }

    /// The next connection cut by [`send`](Self::send) or
    /// [`drop_conn`](Self::drop_conn) that the dialect has not yet been told
    /// of.
    pub(crate) fn next_dropped(&mut self) -> Option<ConnId> {
        self.dropped.pop()
    }

    /// Forgets the descriptors of connections that left during the event
    /// just handled.
    pub(crate) fn end_event(&mut self) {
        self.departed.clear();
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// When the next connection must be cut: the earliest unregistered
    /// connection's login time, or a closed one's time to take its last
    /// bytes.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some((_, socket)) = self.closing.front() {
            if socket.strong_count() > 0 {
                break;
            }
            self.closing.pop_front();
        }
        let closing = self.closing.front().map(|&(deadline, _)| deadline);
        let login = self.next_login_deadline();
        match (login, closing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the earliest unregistered connection's login time runs out.
    fn next_login_deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, id)) = self.deadlines.front() {
            match self.map.get(&id) {
                Some(conn) if !conn.registered => return Some(deadline),
                _ => {
                    self.deadlines.pop_front();
                }
            }
        }
        None
    }

    /// Cuts every unregistered connection whose login time has run out, and
    /// every closed one still not done writing after its time.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, _)) = self.closing.front() {
            if deadline > now {
                break;
            }
            if let Some((_, socket)) = self.closing.pop_front() {
                if let Some(socket) = socket.upgrade() {
                    log::debug!(
                        "fd {}: peer not reading after close, cutting",
                        socket.as_raw_fd()
                    );
                    abort(&socket);
                }
            }
        }
        self.expire_logins(now);
    }

    /// Cuts every unregistered connection whose login time has run out.
    fn expire_logins(&mut self, now: Instant) {
        while let Some(deadline) = self.next_login_deadline() {
            if deadline > now {
                break;
            }
            if let Some((_, id)) = self.deadlines.pop_front() {
                self.status(id, format_args!("login timeout, closing"));
                self.drop_conn(id);
            }
        }
    }

    /// How many open connections were sent something during the current
    /// event (at shutdown: how many clients were told).
    pub(crate) fn reached(&self) -> usize {
        self.map
            .values()
            .filter(|c| c.touched == self.epoch)
            .count()
    }

    /// Closes every connection at shutdown, after what is queued is written.
    pub(crate) fn close_all(&mut self) {
        for (_, conn) in self.map.drain() {
            conn.outbox.close_when_drained();
            if let Some(socket) = &conn.socket {
                // A client that does not read must not hold up the exit.
                let _ = socket.set_write_timeout(Some(Duration::from_millis(500)));
                let _ = socket.shutdown(Shutdown::Read);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sendq: usize) -> (Conns, ConnId, Drain) {
        let mut conns = Conns::new(None);
        let (conn, drain) = Conn::detached(7, SocketAddr::from(([127, 0, 0, 1], 1)), sendq);
        let id = ConnId(1);
        conns.insert(id, conn);
        (conns, id, drain)
    }

    /// The reader's wait after a JOIN_REQUEST: one answer per request
    /// that may register, and the end of the wait when the connection goes.
    #[test]
    fn the_registration_answer_reaches_the_reader_and_ends_with_the_connection() {
        let (mut conns, id, _drain) = table(10);
        let (answers, verdicts) = crossbeam_channel::bounded(1);
        if let Some(conn) = conns.map.get_mut(&id) {
            conn.registration = answers;
        }
        conns.answer_registration(id);
        assert_eq!(verdicts.try_recv(), Ok(false));
        conns.set_registered(id);
        conns.answer_registration(id);
        assert_eq!(verdicts.try_recv(), Ok(true));
        // A reader still waiting when the connection is closed wakes.
        conns.close(id);
        assert!(verdicts.recv().is_err());
    }

    #[test]
    fn one_event_into_an_empty_queue_is_taken_whole() {
        let (mut conns, id, drain) = table(10);
        // One event: a reply past the bound, then what follows it.
        conns.reply(id, b"JOIN_ACCEPT with a long history".to_vec());
        conns.reply(id, b"NEW_USER".to_vec());
        assert!(conns.contains(id));
        assert_eq!(conns.next_dropped(), None);
        conns.end_event();
        // The next event finds the queue full: the bound applies.
        conns.reply(id, b"text".to_vec());
        assert!(!conns.contains(id));
        assert_eq!(conns.next_dropped(), Some(id));
        assert!(drain.is_closed());
    }

    #[test]
    fn a_step_that_starts_in_a_busy_queue_keeps_the_bound() {
        let (mut conns, id, drain) = table(10);
        conns.reply(id, b"12345678".to_vec());
        conns.end_event();
        conns.reply(id, b"abc".to_vec());
        assert!(!conns.contains(id));
        drop(drain);
    }

    #[test]
    fn a_new_event_after_the_queue_drained_starts_a_new_step() {
        let (mut conns, id, drain) = table(10);
        conns.reply(id, b"a long first reply".to_vec());
        conns.end_event();
        assert_eq!(drain.take_now(), b"a long first reply");
        conns.reply(id, b"another long reply".to_vec());
        conns.reply(id, b"and its follower".to_vec());
        assert!(conns.contains(id));
        assert_eq!(
            drain.take_now(),
            b"another long replyand its follower".to_vec()
        );
    }
}

#[cfg(test)]
mod slots {
    use super::*;

    /// With a long `--login-timeout`, one idle unregistered connection at
    /// the front of the deadline queue does not make the queue keep an
    /// entry for every connection that came and went after it.
    #[test]
    fn login_deadlines_of_departed_connections_do_not_pile_up() {
        let mut conns = Conns::new(Some(Duration::from_secs(3600)));
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let (idler, _idler_drain) = Conn::detached(5, addr, 1 << 10);
        conns.insert(ConnId(1), idler);
        for i in 2..20_000 {
            let (conn, _drain) = Conn::detached(6, addr, 1 << 10);
            conns.insert(ConnId(i), conn);
            if i % 2 == 0 {
                conns.set_registered(ConnId(i));
            } else {
                conns.close(ConnId(i));
            }
        }
        assert!(conns.deadlines.len() <= 2 * conns.map.len() + SWEEP_SLACK + 1);
        // The idler's deadline is still the next one.
        assert_eq!(conns.deadlines.front().map(|&(_, id)| id), Some(ConnId(1)));
        assert!(conns.next_deadline().is_some());
    }

    /// Without `--login-timeout` (the default), no open connection has a
    /// deadline, registered or not, however long it idles: only a
    /// newcomer at the limit (the slot rule) or the server's own close can
    /// end it.
    #[test]
    fn without_a_login_timeout_no_open_connection_ever_expires() {
        let (mut conns, drains) = table(2);
        conns.set_registered(ConnId(1));
        assert_eq!(conns.next_deadline(), None);
        conns.expire(Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600));
        assert_eq!(conns.next_dropped(), None);
        assert!(conns.contains(ConnId(1)) && conns.contains(ConnId(2)));
        assert!(!drains[0].is_closed() && !drains[1].is_closed());
        // A login timeout applies to the unregistered one alone.
        let mut timed = Conns::new(Some(Duration::from_secs(1)));
        let mut kept = Vec::new();
        for i in 1..=2 {
            let addr = SocketAddr::from(([127, 0, 0, 1], 2000 + i as u16));
            let (conn, drain) = Conn::detached(20 + i as i32, addr, 1 << 20);
            timed.insert(ConnId(i), conn);
            kept.push(drain);
        }
        timed.set_registered(ConnId(1));
        timed.expire(Instant::now() + Duration::from_secs(2));
        assert_eq!(timed.next_dropped(), Some(ConnId(2)));
        assert_eq!(timed.next_dropped(), None);
        assert!(timed.contains(ConnId(1)));
        assert!(kept[1].is_closed() && !kept[0].is_closed());
    }

    /// A table of `n` connections accepted in id order.
    fn table(n: u64) -> (Conns, Vec<Drain>) {
        let mut conns = Conns::new(None);
        let mut drains = Vec::new();
        for i in 1..=n {
            let addr = SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16));
            let (conn, drain) = Conn::detached(10 + i as i32, addr, 1 << 20);
            conns.insert(ConnId(i), conn);
            drains.push(drain);
        }
        (conns, drains)
    }

    fn later() -> Instant {
        Instant::now() + SLOT_AGE + Duration::from_secs(1)
    }

    #[test]
    fn the_oldest_unregistered_connection_makes_room() {
        let (mut conns, drains) = table(3);
        conns.set_registered(ConnId(1));
        assert!(conns.free_slot(later(), Evictable::Unregistered));
        assert_eq!(conns.next_dropped(), Some(ConnId(2)));
        assert!(drains[1].is_closed());
        assert!(conns.contains(ConnId(1)) && conns.contains(ConnId(3)));
        assert!(conns.free_slot(later(), Evictable::Unregistered));
        assert_eq!(conns.next_dropped(), Some(ConnId(3)));
        // Only registered users are left: the newcomer is refused.
        assert!(!conns.free_slot(later(), Evictable::Unregistered));
        assert!(conns.contains(ConnId(1)));
    }

    #[test]
    fn a_connection_younger_than_the_slot_age_keeps_its_slot() {
        let (mut conns, _drains) = table(2);
        assert!(!conns.free_slot(Instant::now(), Evictable::Unregistered));
        assert_eq!(conns.next_dropped(), None);
        // The age is configurable (the hidden --slot-age, for tests).
        conns.set_slot_age(Duration::ZERO);
        assert!(conns.free_slot(Instant::now(), Evictable::Unregistered));
        assert_eq!(conns.next_dropped(), Some(ConnId(1)));
    }

    #[test]
    fn bridge_cuts_only_connections_between_requests() {
        let (mut conns, _drains) = table(3);
        // A bridge client registers after every answer; that does not
        // protect it. One in the middle of a request is protected.
        conns.set_registered(ConnId(1));
        conns.map[&ConnId(1)]
            .mid_request
            .store(true, Ordering::Relaxed);
        assert!(conns.free_slot(later(), Evictable::BetweenRequests));
        assert_eq!(conns.next_dropped(), Some(ConnId(2)));
        conns.map[&ConnId(3)]
            .mid_request
            .store(true, Ordering::Relaxed);
        assert!(!conns.free_slot(later(), Evictable::BetweenRequests));
    }
}
