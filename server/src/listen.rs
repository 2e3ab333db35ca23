//! The listener, the per-connection threads, and orderly shutdown: the part
//! of the core that touches sockets, the same for every dialect.
//!
//! The main thread accepts. For each connection it registers the connection
//! with the dispatcher, then starts a writer thread (draining the connection's
//! [`Outbox`](crate::outbox::Outbox)) and a reader thread (decoding with the
//! dialect's codec and sending events). Both share one socket through an
//! `Arc`, so a connection costs one file descriptor.
//!
//! Shutdown (SIGINT, SIGTERM) follows the order of the async-std chat
//! tutorial: stop accepting, let the dispatcher tell the clients and close
//! every queue, let the writers finish (for at most a moment), exit 0.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat_protocol::FrameBuffer;
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::conns::{Conn, ConnId, Conns};
use crate::dispatch::{Dialect, Dispatcher, Event, Request};
use crate::outbox::Drain;
use crate::status;
use crate::trace::{self, Way};

/// Stack size of reader and writer threads. They hold no large buffers on
/// the stack (the receive buffer is on the heap), and small stacks keep
/// thousands of idle connections cheap.
const CONN_STACK: usize = 64 * 1024;
/// Events waiting for the dispatcher. When it falls behind, readers wait
/// here: back-pressure on the flooders, never on other clients' sockets.
const EVENT_QUEUE: usize = 16 * 1024;
/// How long shutdown waits for writers to flush their last bytes.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);
/// How long the exit waits for the last status lines to be written.
const STATUS_GRACE: Duration = Duration::from_millis(300);
/// How long an idle socket waits before TCP keepalive probes start, so that
/// peers that vanished without a FIN or RST are found.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// The options every server takes.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind: IpAddr,
    pub port: u16,
    /// `None`: no connection is cut for not registering.
    pub login_timeout: Option<Duration>,
    pub max_connections: usize,
    pub sendq: usize,
    /// How long a connection must be open before the slot rule may cut it
    /// ([`crate::conns::SLOT_AGE`]; shorter only in tests).
    pub slot_age: Duration,
    /// `-v`/`--trace`: every message sent and received, on stderr.
    pub trace: bool,
}

/// Counts a live connection against `--max-connections` and, through its
/// token, keeps shutdown waiting until both threads of every connection are
/// gone.
struct Slot {
    live: Arc<AtomicUsize>,
    released: AtomicBool,
    _alive: Sender<()>,
}

impl Slot {
    /// Stops counting the connection. The writer calls this just before it
    /// shuts the socket, so that a client that has seen the end of its
    /// connection can always connect again at once.
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// Binds, serves `dialect` until SIGINT or SIGTERM, and returns the exit code.
pub fn serve<D: Dialect>(options: &Options, dialect: D) -> ExitCode {
    let addr = SocketAddr::new(options.bind, options.port);
    let listener = match bind(addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let max_connections = reachable_connections(options.max_connections);
    let local = listener.local_addr().unwrap_or(addr);
    status::print(format_args!("Server listening on {local}"));

    let (events, inbox) = bounded::<Event<D>>(EVENT_QUEUE);
    let decoder = dialect.decoder();
    let mut conns = Conns::new(options.login_timeout);
    conns.set_slot_age(options.slot_age);
    let mut dispatcher = Dispatcher::new(dialect, conns);
    if options.trace {
        dispatcher.trace();
    }
    let dispatcher = match thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || dispatcher.run(inbox))
    {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("error: cannot start the dispatcher: {e}");
            return ExitCode::from(1);
        }
    };

    let stopping = Arc::new(AtomicBool::new(false));
    if let Err(e) = watch_signals(&listener, events.clone(), stopping.clone()) {
        eprintln!("error: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    if D::READS_STDIN {
        read_stdin(events.clone());
    }

    let (alive, all_gone) = bounded::<()>(0);
    let live = Arc::new(AtomicUsize::new(0));
    let mut next_id = 0u64;
    let mut accept_warnings = RateLimit::new(ACCEPT_WARNING_EVERY);
    for stream in listener.incoming() {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // EMFILE and friends: the listener stays usable; give the
                // process a moment to free descriptors rather than spin,
                // and say so at most once a second.
                if let Some(more) = accept_warnings.allow(Instant::now()) {
                    log::warn!("accept failed: {e}{}", RateLimit::note(more));
                }
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let fd = stream.as_raw_fd();
        if live.load(Ordering::Acquire) >= max_connections && !slot_freed(&events) {
            status::print(format_args!(
                "fd {fd}: too many connections ({max_connections}), closing"
            ));
            continue;
        }
        live.fetch_add(1, Ordering::AcqRel);
        let slot = Arc::new(Slot {
            live: live.clone(),
            released: AtomicBool::new(false),
            _alive: alive.clone(),
        });
        next_id += 1;
        start_connection(
            ConnId(next_id),
            stream,
            options,
            decoder.clone(),
            &events,
            slot,
        );
    }
    drop(listener);
    // The writers' grace counts from the signal: the dispatcher's wait for
    // the disk (at most 1 s) is part of it, so SIGTERM still ends within 2 s.
    let deadline = Instant::now() + SHUTDOWN_GRACE;

    // The signal thread has sent Shutdown; the dispatcher tells the clients
    // and closes every queue, and the writers end when they have written.
    drop(events);
    drop(alive);
    let _ = dispatcher.join();
    let _ = all_gone.recv_deadline(deadline);
    // The last status lines, unless nobody reads stdout: the exit does not
    // wait for it (SIGINT and SIGTERM end the server within 2 s).
    status::finish(STATUS_GRACE);
    ExitCode::SUCCESS
}

/// How long the acceptor waits for the dispatcher to free a slot.
const SLOT_WAIT: Duration = Duration::from_secs(1);
/// At most one `accept failed` warning this often.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(1);
/// Descriptors kept for everything but connections: the listener, stdio,
/// the signal pipe, files the dialect keeps, a spare or two.
const RESERVED_FDS: u64 = 32;

/// Every slot is taken: asks the dispatcher to free one by the slot rule
/// (the oldest unregistered connection open for 10 s) and waits for its
/// answer, boundedly. The dispatcher never blocks, so the wait is short.
fn slot_freed<D: Dialect>(events: &Sender<Event<D>>) -> bool {
    let (answer, freed) = bounded(1);
    if events.send(Event::Full(answer)).is_err() {
        return false;
    }
    freed.recv_timeout(SLOT_WAIT).unwrap_or(false)
}

/// A warning that may go out at most once per period; the ones held back
/// are counted and named in the next.
#[derive(Debug)]
struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl RateLimit {
    fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            held: 0,
        }
    }

    /// `Some(held back since the last)` when a warning may go out now.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.held = self.held.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }

    /// The tail of a warning that names how many were held back.
    fn note(held: u64) -> String {
        match held {
            0 => String::new(),
            n => format!(" ({n} more since the last warning)"),
        }
    }
}

/// Binds a listening socket with the system's largest backlog: with the
/// default of 128, a thousand back-to-back connects lost SYNs and took
/// seconds. The kernel caps the backlog at `net.core.somaxconn` itself.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std's bind does on Unix: a restarted server can bind at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::MAX)?;
    Ok(socket.into())
}

/// Raises the open-file limit to the hard limit and returns how many
/// connections the descriptors allow, at most `wanted`; says on stderr at
/// start when that is fewer than `wanted`.
fn reachable_connections(wanted: usize) -> usize {
    let limit = match raise_nofile_limit() {
        Ok(limit) => limit,
        Err(e) => {
            log::debug!("cannot read or raise the open-file limit: {e}");
            return wanted;
        }
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    if room >= wanted {
        return wanted;
    }
    let room = room.max(1);
    eprintln!(
        "warning: --max-connections {wanted} cannot be reached with {limit} file descriptors \
         (the hard limit, ulimit -Hn); serving at most {room} connections"
    );
    room
}

/// Sets the soft `RLIMIT_NOFILE` to the hard one; returns the soft limit
/// now in force.
fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, initialised `rlimit` that outlives the
    // call; getrlimit only writes that struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid `rlimit` that outlives the call;
        // setrlimit only reads it. Raising the soft limit to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            log::debug!(
                "cannot raise the open-file limit: {}",
                io::Error::last_os_error()
            );
        }
    }
    Ok(limit.rlim_cur)
}

/// Sets up one accepted connection and its two threads.
fn start_connection<D: Dialect>(
    id: ConnId,
    stream: TcpStream,
    options: &Options,
    decoder: D::Decoder,
    events: &Sender<Event<D>>,
    slot: Arc<Slot>,
) {
    let fd = stream.as_raw_fd();
    let addr = match stream.peer_addr() {
        Ok(addr) => addr,
        Err(e) => {
            log::debug!("fd {fd}: peer gone before setup: {e}");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE);
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);

    let socket = Arc::new(stream);
    let mid_request = Arc::new(AtomicBool::new(false));
    let (registration, verdicts) = bounded(1);
    let (conn, drain) = Conn::new(
        fd,
        addr,
        options.sendq,
        socket.clone(),
        mid_request.clone(),
        registration,
    );
    if events.send(Event::Connected(id, conn)).is_err() {
        return;
    }

    let trace = options.trace;
    let writer = {
        let (socket, slot) = (socket.clone(), slot.clone());
        thread::Builder::new()
            .name(format!("writer-{fd}"))
            .stack_size(CONN_STACK)
            .spawn(move || write_loop(drain, &socket, slot))
    };
    if let Err(e) = writer {
        log::error!("fd {fd}: cannot start a writer thread, closing: {e}");
        let _ = events.send(Event::Closed(id));
        return;
    }
    let reader = {
        let events = events.clone();
        thread::Builder::new()
            .name(format!("reader-{fd}"))
            .stack_size(CONN_STACK)
            .spawn(move || {
                let reader = Reader {
                    id,
                    events,
                    verdicts,
                    registered: false,
                    trace: trace.then_some(fd),
                };
                read_loop(reader, &socket, decoder, &mid_request, slot)
            })
    };
    if let Err(e) = reader {
        log::error!("fd {fd}: cannot start a reader thread, closing: {e}");
        let _ = events.send(Event::Closed(id));
    }
}

/// The writer thread: drain the queue into the socket, then shut the socket
/// so that the reader wakes up and the peer sees the end.
fn write_loop(drain: Drain, socket: &TcpStream, slot: Arc<Slot>) {
    defer_to_running_threads();
    if let Err(e) = drain.run(socket) {
        log::debug!("fd {}: write failed: {e}", socket.as_raw_fd());
    }
    slot.release();
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

/// What a reader thread knows besides its socket and its buffer.
struct Reader<D: Dialect> {
    id: ConnId,
    events: Sender<Event<D>>,
    /// The dispatcher's answers to requests that may register the
    /// connection ([`Dialect::may_register`]).
    verdicts: Receiver<bool>,
    /// Whether the connection is registered, as last answered.
    registered: bool,
    /// `--trace`: the fd, to show each request's bytes as received.
    trace: Option<i32>,
}

impl<D: Dialect> Reader<D> {
    /// Passes `request` on; after one that may register the connection,
    /// waits for the dispatcher's answer and tells the decoder, so that
    /// the next message is decoded with the limits of what the connection
    /// is now. `false` when the reader must stop.
    fn pass(&mut self, request: Request<D>, frames: &mut FrameBuffer<D::Decoder>) -> bool {
        let asks = D::holds(&request) || (!self.registered && D::may_register(&request));
        if self.events.send(Event::Request(self.id, request)).is_err() {
            return false;
        }
        if asks {
            // The dispatcher answers as it handles the request; no answer
            // (the connection is gone) ends the reader.
            let Ok(registered) = self.verdicts.recv() else {
                return false;
            };
            self.registered = registered;
            D::registered(frames.decoder_mut(), registered);
        }
        true
    }
}

/// The reader thread: decode the socket's bytes and send them to the
/// dispatcher until end of stream, an error, or a fatal decoding error.
fn read_loop<D: Dialect>(
    mut reader: Reader<D>,
    mut socket: &TcpStream,
    decoder: D::Decoder,
    mid_request: &AtomicBool,
    _slot: Arc<Slot>,
) {
    defer_to_running_threads();
    let trace = reader.trace;
    let mut frames = FrameBuffer::new(decoder);
    // Whether part of a request is pending, as last told to the dispatcher
    // through `mid_request` (stored only when it changes).
    let mut mid = false;
    // Whether a read timeout is set: only while an unfinished item is
    // pending, and only for a dialect in which a pause ends one.
    let mut timing = false;
    loop {
        let n = match socket.read(frames.space()) {
            Ok(0) => {
                // A half-close ends a pending line as a pause does.
                if let Some(request) = idle_item::<D>(&mut frames, trace) {
                    let _ = reader.events.send(Event::Request(reader.id, request));
                }
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if timing && is_timeout(&e) => {
                // The sender paused with an unfinished item pending.
                if let Some(request) = idle_item::<D>(&mut frames, trace) {
                    if !reader.pass(request, &mut frames) {
                        return;
                    }
                }
                if !drain_items(&mut reader, &mut frames) {
                    return;
                }
                timing = set_idle_timer::<D>(socket, timing, frames.pending());
                continue;
            }
            Err(e) => {
                log::debug!("fd {}: read failed: {e}", socket.as_raw_fd());
                break;
            }
        };
        frames.filled(n);
        if !drain_items(&mut reader, &mut frames) {
            return;
        }
        timing = set_idle_timer::<D>(socket, timing, frames.pending());
        let pending = !frames.pending().is_empty();
        if pending != mid {
            mid = pending;
            mid_request.store(mid, Ordering::Relaxed);
        }
    }
    let _ = reader.events.send(Event::Closed(reader.id));
}

/// Sends every whole item `frames` holds to the dispatcher. `false` when
/// the reader must stop: the stream is malformed or the dispatcher is gone.
fn drain_items<D: Dialect>(reader: &mut Reader<D>, frames: &mut FrameBuffer<D::Decoder>) -> bool {
    // Traced, the bytes each request used are cut from a copy of what was
    // pending (only then: a copy per read is the trace's cost, not the
    // server's).
    let received = reader.trace.map(|_| frames.pending().to_vec());
    let mut shown = 0;
    loop {
        let before = frames.pending().len();
        let item = frames.next_item();
        if let (Some(fd), Some(received)) = (reader.trace, &received) {
            let used = before - frames.pending().len();
            if let Some(bytes) = received.get(shown..shown + used) {
                if !bytes.is_empty() {
                    trace::print(fd, Way::Received, bytes, D::trace);
                }
            }
            shown += used;
        }
        match item {
            Ok(Some(request)) => {
                if !reader.pass(request, frames) {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(error) => {
                let _ = reader.events.send(Event::Malformed(reader.id, error));
                return false;
            }
        }
    }
}

/// What a pause (or a half-close) ends of the pending bytes, traced like
/// any request.
fn idle_item<D: Dialect>(
    frames: &mut FrameBuffer<D::Decoder>,
    trace: Option<i32>,
) -> Option<Request<D>> {
    let Some(fd) = trace else {
        return frames.idle();
    };
    let received = frames.pending().to_vec();
    let item = frames.idle();
    let used = received.len() - frames.pending().len();
    if used > 0 {
        trace::print(fd, Way::Received, &received[..used], D::trace);
    }
    item
}

/// Sets or clears the socket's read timeout so that a read waits at most
/// [`Dialect::IDLE_AFTER`] while bytes are `pending`, and for ever
/// otherwise; returns whether it is set. Only a change costs a system call.
fn set_idle_timer<D: Dialect>(socket: &TcpStream, timing: bool, pending: &[u8]) -> bool {
    let Some(after) = D::IDLE_AFTER else {
        return false;
    };
    let want = !pending.is_empty();
    if want != timing {
        let timeout = want.then_some(after);
        if let Err(e) = socket.set_read_timeout(timeout) {
            log::debug!("fd {}: cannot set a read timeout: {e}", socket.as_raw_fd());
            return false;
        }
    }
    want
}

/// Whether a read failed because its timeout ran out (`EAGAIN` on Linux).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Asks the kernel not to preempt a running thread to run this one when it
/// wakes (the `SCHED_BATCH` policy; otherwise the same fair scheduling).
///
/// Connection threads wake by the thousand and each runs for a moment: a
/// reader when its socket has bytes, a writer when its queue has messages.
/// Under the default policy each such wake-up may preempt whatever runs on
/// that core, which is most often the dispatcher in the middle of a batch,
/// or the client that has just written and is about to wait: two context
/// switches more for every message. As a batch thread, a woken connection
/// thread runs at the next point where the core is free instead (an idle
/// core takes it at once). Measured on two cores: ping-pong +16%, fanout
/// to 1,000 +19% (docs/PERFORMANCE.md). A failure only loses that gain.
fn defer_to_running_threads() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 names the calling thread; `param` is an initialised
        // `sched_param` that outlives the call, and the kernel only reads it.
        // The call touches no memory of ours and has no other precondition.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            log::debug!(
                "cannot make a connection thread SCHED_BATCH: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// Starts the thread that turns SIGINT and SIGTERM into an orderly shutdown:
/// stop the acceptor, then tell the dispatcher.
fn watch_signals<D: Dialect>(
    listener: &TcpListener,
    events: Sender<Event<D>>,
    stopping: Arc<AtomicBool>,
) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let listener = listener.try_clone()?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stopping.store(true, Ordering::Release);
                // Wakes the acceptor blocked in accept(); on Linux a shut-down
                // listening socket fails accept with EINVAL.
                let _ = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Both);
                let _ = events.send(Event::Shutdown);
            }
        })?;
    Ok(())
}

/// Starts the thread that passes stdin lines to the dispatcher. At end of
/// stdin it just ends: a server with a closed stdin keeps serving.
fn read_stdin<D: Dialect>(events: Sender<Event<D>>) {
    let spawned = thread::Builder::new().name("stdin".into()).spawn(move || {
        for line in io::stdin().lines() {
            let Ok(line) = line else { break };
            if events.send(Event::Stdin(line)).is_err() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        log::warn!("cannot read commands from stdin: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_warnings_go_out_at_most_once_a_second_and_count_the_rest() {
        let mut limit = RateLimit::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(limit.allow(start), Some(0));
        // A hundred failures within the second: held back, counted.
        for i in 1..=100 {
            assert_eq!(limit.allow(start + Duration::from_millis(i * 9)), None);
        }
        assert_eq!(limit.allow(start + Duration::from_secs(1)), Some(100));
        assert_eq!(RateLimit::note(100), " (100 more since the last warning)");
        assert_eq!(RateLimit::note(0), "");
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        let soft = raise_nofile_limit().expect("getrlimit");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_nofile_limit: a valid struct getrlimit writes.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(reachable_connections(8), 8);
    }
}
