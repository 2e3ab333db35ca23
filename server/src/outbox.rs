//! The queue-and-writer pair: one per connection, shared by every dialect.
//!
//! The dispatcher pushes encoded messages into an [`Outbox`] and never waits;
//! the connection's writer thread takes *everything* queued in one go and hands
//! it to the kernel in one `writev`, because per-write system-call cost, not
//! bytes, is what limits a chat relay. The queue is bounded in bytes: a message
//! that would take a non-empty queue past the bound is refused, and the
//! dispatcher disconnects that client ([`Overflow`]).
//!
//! A push does not wake the writer: it says whether the queue was empty (so
//! the writer may be asleep), and the caller wakes it with [`Outbox::wake`]
//! once it has queued everything it is about to queue. Waking a sleeping
//! thread is a system call and a context switch; doing it once per batch of
//! events rather than once per message is what lets a writer find many
//! messages to send in one `writev`.
//!
//! The queue holds bytes, not messages: small messages are copied, one
//! after another, into the buffer at its tail ([`Chunk::Own`]), so that a
//! writer hands a whole burst to the kernel as one slice, and nothing is
//! shared between threads but that buffer. Sharing each broadcast message
//! among its recipients instead (an `Arc` per message per recipient) cost
//! every message an atomic increment on the dispatcher and a decrement on
//! each writer, on a cache line that also held the bytes being sent: on two
//! cores that contention, and the kernel's per-slice copying, were most of
//! a broadcast's cost (docs/PERFORMANCE.md). A large message (a room
//! attachment) is shared, not copied ([`Chunk::Shared`]).
//!
//! Better still is not to wake the writer at all: when it is idle, the
//! dispatcher may hand the queue to the kernel itself with
//! [`Outbox::write_now`], through a write that must never block (a
//! non-blocking `sendmsg`). Whatever the kernel does not take at once stays
//! queued for the writer, which is then woken. The state's `writing` flag
//! keeps the two from ever writing at the same time, so bytes go out in
//! queue order.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// An encoded message, shared by every recipient of a broadcast.
pub type Bytes = Arc<[u8]>;

/// The push that would pass the bound; the caller disconnects the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// What a push found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The queue held nothing: the writer may be asleep and needs a wake.
    pub was_empty: bool,
    /// Nothing was pending (queued or being written): the message was taken
    /// whatever its size, and starts a step that is taken whole.
    pub into_empty: bool,
}

/// How the writer should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Open,
    /// Write what is queued, then end.
    WhenDrained,
    /// Drop what is queued and end at once.
    Now,
}

/// A message up to this long is copied into the queue's tail buffer; a
/// longer one is queued shared.
const COPY_MAX: usize = 4 * 1024;
/// A tail buffer takes copies until it holds this much; then a new one
/// starts, so that no buffer grows without bound while the writer writes.
const CHUNK_MAX: usize = 64 * 1024;
/// A new tail buffer has room for at least this much. Above 1 KiB on
/// purpose: glibc keeps freed blocks of up to 1 KiB in a cache per thread,
/// so a writer that freed smaller buffers would hold on to some, and 5,000
/// idle connections measured 6 KiB more each with 1 KiB buffers.
const CHUNK_MIN: usize = 2048;

/// A run of queued bytes.
#[derive(Debug)]
enum Chunk {
    /// Messages copied one after another, for this connection alone.
    Own(Vec<u8>),
    /// One large message, shared with its other recipients.
    Shared(Bytes),
}

impl std::ops::Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Own(bytes) => bytes,
            Chunk::Shared(bytes) => bytes,
        }
    }
}

/// A message to queue: one made for this connection, or one encoded once
/// for several.
#[derive(Debug)]
pub enum Message<'a> {
    Own(Vec<u8>),
    Shared(&'a Bytes),
}

impl Message<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Message::Own(bytes) => bytes,
            Message::Shared(bytes) => bytes,
        }
    }
}

impl<'a> From<&'a Bytes> for Message<'a> {
    fn from(bytes: &'a Bytes) -> Self {
        Message::Shared(bytes)
    }
}

impl From<Vec<u8>> for Message<'_> {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Own(bytes)
    }
}

/// The writer's batch: what it took from the queue in one go.
type Batch = VecDeque<Chunk>;

#[derive(Debug)]
struct State {
    queue: VecDeque<Chunk>,
    /// Bytes queued or taken by the writer and not yet written: a message
    /// counts against the bound until it is on the wire.
    pending: usize,
    /// Bytes of the first queued chunk already written by
    /// [`Outbox::write_now`].
    offset: usize,
    /// The writer holds a batch it has not finished writing: nobody else may
    /// write to the socket.
    writing: bool,
    close: Close,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    limit: usize,
}

/// The dispatcher's end of a connection's queue.
#[derive(Debug)]
pub struct Outbox(Arc<Shared>);

/// The writer's end of a connection's queue.
#[derive(Debug)]
pub struct Drain(Arc<Shared>);

/// A queue bounded to `limit` bytes, as its two ends.
pub fn outbox(limit: usize) -> (Outbox, Drain) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            pending: 0,
            offset: 0,
            writing: false,
            close: Close::Open,
        }),
        wake: Condvar::new(),
        limit,
    });
    (Outbox(shared.clone()), Drain(shared))
}

impl Outbox {
    /// Queues `msg`. An empty queue takes any message; otherwise a message
    /// that would pass the bound is refused. Never blocks, and does not wake
    /// the writer: `Ok(true)` says the queue was empty, so the writer may be
    /// waiting and needs a [`wake`](Self::wake) before the caller waits for
    /// anything itself.
    #[cfg(test)]
    pub fn push<'a>(&self, msg: impl Into<Message<'a>>) -> Result<bool, Overflow> {
        self.push_in_step(msg, false).map(|pushed| pushed.was_empty)
    }

    /// Queues `msg`. An empty queue takes any message; otherwise a message
    /// that would pass the bound is refused, except that with `same_step`
    /// the message is taken whatever the bound: it is part of
    /// one step (a reply and what follows it) whose first message went into
    /// an empty queue, and a step is taken whole (contract: "a reply ... is
    /// taken together with the messages that follow it in the same step").
    /// The caller learns from [`Pushed::into_empty`] whether this message
    /// started such a step. Never blocks, and does not wake the writer.
    pub fn push_in_step<'a>(
        &self,
        msg: impl Into<Message<'a>>,
        same_step: bool,
    ) -> Result<Pushed, Overflow> {
        let msg = msg.into();
        let len = msg.bytes().len();
        let mut state = self.0.state.lock();
        if state.close != Close::Open {
            return Ok(Pushed::default());
        }
        let into_empty = state.pending == 0;
        // `pending + len` cannot overflow a usize: both count bytes in memory.
        if !into_empty && !same_step && state.pending.saturating_add(len) > self.0.limit {
            return Err(Overflow);
        }
        let pushed = Pushed {
            was_empty: state.queue.is_empty(),
            into_empty,
        };
        state.pending = state.pending.saturating_add(len);
        if len <= COPY_MAX {
            if let Some(Chunk::Own(tail)) = state.queue.back_mut() {
                if tail.len() + len <= CHUNK_MAX {
                    tail.extend_from_slice(msg.bytes());
                    return Ok(pushed);
                }
            }
        }
        let chunk = match msg {
            Message::Shared(bytes) if len <= COPY_MAX => {
                let mut tail = spare::take();
                tail.extend_from_slice(bytes);
                Chunk::Own(tail)
            }
            Message::Shared(bytes) => Chunk::Shared(bytes.clone()),
            Message::Own(bytes) => Chunk::Own(bytes),
        };
        state.queue.push_back(chunk);
        Ok(pushed)
    }

    /// Writes what is queued with `write`, if the writer is idle, and says
    /// whether anything is left for the writer (the caller then wakes it).
    ///
    /// `write` must not block: it is a non-blocking send, and it may take
    /// fewer bytes than offered, or none. At most [`WRITE_NOW_MAX`] bytes are
    /// offered, so that the caller's time here stays small whatever is
    /// queued. The queue's lock is held across `write`, so the writer cannot
    /// take the queue meanwhile and the bytes go out in order.
    pub fn write_now(&self, write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>) -> bool {
        let mut state = self.0.state.lock();
        if state.writing || state.close != Close::Open || state.queue.is_empty() {
            return !state.queue.is_empty();
        }
        let mut slices = [IoSlice::new(&[]); WRITE_NOW_SLICES];
        let (count, offered) = gather(&state.queue, 0, state.offset, WRITE_NOW_MAX, &mut slices);
        // Would block, interrupted, or failed: the writer tries again with a
        // blocking write and meets any error itself.
        let written = write(&slices[..count]).unwrap_or(0).min(offered);
        state.pending = state.pending.saturating_sub(written);
        let (done, skip) = advance(&state.queue, (0, state.offset), written);
        state.queue.drain(..done).for_each(spare::give_back);
        state.offset = skip;
        !state.queue.is_empty()
    }

    /// Wakes the writer if it waits for messages (cheap when it does not:
    /// no system call).
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    /// The bound, in bytes.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Whether bytes are queued or being written.
    pub fn is_pending(&self) -> bool {
        self.0.state.lock().pending > 0
    }

    /// Lets the writer finish what is queued, then end.
    pub fn close_when_drained(&self) {
        self.set_close(Close::WhenDrained);
    }

    /// Drops what is queued; the writer ends without writing more.
    pub fn close_now(&self) {
        self.set_close(Close::Now);
    }

    fn set_close(&self, close: Close) {
        let mut state = self.0.state.lock();
        if state.close != Close::Now {
            state.close = close;
        }
        if close == Close::Now {
            state.queue.clear();
            state.offset = 0;
        }
        drop(state);
        self.0.wake.notify_one();
    }
}

impl Drain {
    /// Waits for messages and takes all of them: the queue and the empty
    /// `batch` swap places, so taking costs nothing however many are queued.
    /// Returns how many bytes of the first chunk are already written, or
    /// `None` when the queue is closed and nothing is left to write. Until
    /// [`written`](Self::written), the writer alone may write.
    fn next_batch(&self, batch: &mut Batch) -> Option<usize> {
        debug_assert!(batch.is_empty());
        let mut state = self.0.state.lock();
        loop {
            if state.close == Close::Now {
                return None;
            }
            if !state.queue.is_empty() {
                std::mem::swap(&mut state.queue, batch);
                state.writing = true;
                return Some(std::mem::take(&mut state.offset));
            }
            if state.close == Close::WhenDrained {
                return None;
            }
            self.0.wake.wait(&mut state);
        }
    }

    /// Records that `bytes` taken by [`next_batch`](Self::next_batch) are
    /// written.
    fn written(&self, bytes: usize) {
        let mut state = self.0.state.lock();
        state.pending = state.pending.saturating_sub(bytes);
        state.writing = false;
    }

    /// Everything queued now, without waiting (for tests of the dispatcher).
    #[cfg(test)]
    pub fn take_now(&self) -> Vec<u8> {
        let mut state = self.0.state.lock();
        let skip = std::mem::take(&mut state.offset);
        let bytes: Vec<u8> = state.queue.drain(..).flat_map(|m| m.to_vec()).collect();
        state.pending = 0;
        bytes[skip..].to_vec()
    }

    /// Whether the dispatcher has closed this queue (for tests).
    #[cfg(test)]
    pub fn is_closed(&self) -> bool {
        self.0.state.lock().close != Close::Open
    }

    /// The writer thread's loop: drain the queue into `out` until the queue is
    /// closed or a write fails.
    pub fn run(self, mut out: impl Write) -> io::Result<()> {
        let mut batch = VecDeque::new();
        while let Some(offset) = self.next_batch(&mut batch) {
            let len = batch.iter().map(|m| m.len()).sum::<usize>() - offset;
            write_all_vectored(&mut out, &batch, offset)?;
            batch.drain(..).for_each(spare::give_back);
            // A burst leaves a large buffer behind; an idle connection should
            // not keep it (thousands of them would).
            if batch.capacity() > KEEP_CAPACITY {
                batch = VecDeque::new();
            }
            self.written(len);
        }
        Ok(())
    }
}

/// Tail buffers, once written, are kept for the dispatcher to fill again.
///
/// Without them a burst cost every recipient, per batch, an allocation on
/// the dispatcher, a few reallocations as the buffer grew, a free on the
/// writer's thread, and page faults when the allocator had handed the
/// memory back to the kernel in between. The pool is bounded, in buffers
/// and in each buffer's size, so that it never holds more than
/// [`SPARE_BUFFERS`] × [`CHUNK_MAX`] bytes (16 MiB) after a burst; a writer
/// thread never keeps one, so an idle connection costs nothing here.
mod spare {
    use std::sync::LazyLock;

    use crossbeam_channel::{Receiver, Sender};

    use super::{Chunk, CHUNK_MAX, CHUNK_MIN, SPARE_BUFFERS};

    /// Both ends of one bounded channel: a lock-free queue of buffers.
    type Pool = (Sender<Vec<u8>>, Receiver<Vec<u8>>);

    static POOL: LazyLock<Pool> = LazyLock::new(|| crossbeam_channel::bounded(SPARE_BUFFERS));

    /// An empty buffer with room for at least [`CHUNK_MIN`] bytes.
    pub fn take() -> Vec<u8> {
        POOL.1
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_MIN))
    }

    /// Keeps `chunk`'s buffer, if it is one of the dispatcher's and the
    /// pool has room; frees it otherwise.
    pub fn give_back(chunk: Chunk) {
        if let Chunk::Own(mut buf) = chunk {
            if (CHUNK_MIN..=CHUNK_MAX).contains(&buf.capacity()) {
                buf.clear();
                let _ = POOL.0.try_send(buf);
            }
        }
    }
}

/// How many written tail buffers are kept for reuse.
const SPARE_BUFFERS: usize = 256;
/// Queue buffers larger than this many chunks are freed once written.
const KEEP_CAPACITY: usize = 64;
/// The most bytes [`Outbox::write_now`] offers in one write.
const WRITE_NOW_MAX: usize = 64 * 1024;
/// Batches of up to this many chunks are written from an array on the
/// writer's stack (4 KiB): a writer thread that never allocates costs
/// thousands of idle connections about 6 KiB less each, in glibc's
/// per-thread caches. A larger batch is written from one heap array, in
/// one call as far as the kernel allows.
const SLICES: usize = 256;
/// The most chunks [`Outbox::write_now`] offers in one write.
const WRITE_NOW_SLICES: usize = 64;

/// Fills `slices` with the chunks of `queue` from index `first` on, less
/// the `skip` bytes of that first one already written, stopping at
/// `max_bytes` or when `slices` is full. Returns how many slices it filled
/// and their bytes.
fn gather<'a>(
    queue: &'a Batch,
    first: usize,
    skip: usize,
    max_bytes: usize,
    slices: &mut [IoSlice<'a>],
) -> (usize, usize) {
    let mut count = 0;
    let mut offered = 0;
    let mut skip = skip;
    for msg in queue.iter().skip(first) {
        if count == slices.len() || offered >= max_bytes {
            break;
        }
        let rest = &msg[skip.min(msg.len())..];
        skip = 0;
        let rest = &rest[..rest.len().min(max_bytes - offered)];
        slices[count] = IoSlice::new(rest);
        count += 1;
        offered += rest.len();
    }
    (count, offered)
}

/// Moves a position in `queue` (byte `skip` of chunk `first`) on by `n`
/// written bytes, and past every chunk that is then complete (empty ones
/// included), so that it names the next byte to write.
fn advance(queue: &Batch, (mut first, mut skip): (usize, usize), mut n: usize) -> (usize, usize) {
    while let Some(msg) = queue.get(first) {
        let take = n.min(msg.len().saturating_sub(skip));
        skip += take;
        n -= take;
        if skip < msg.len() {
            break;
        }
        first += 1;
        skip = 0;
    }
    (first, skip)
}

/// Writes every chunk of `batch` but the first `offset` bytes, in as few
/// system calls as the kernel allows.
fn write_all_vectored(out: &mut impl Write, batch: &Batch, offset: usize) -> io::Result<()> {
    // The next byte to write is byte `skip` of chunk `first`.
    let (mut first, mut skip) = advance(batch, (0, offset), 0);
    loop {
        if first == batch.len() {
            return Ok(());
        }
        let left = batch.len() - first;
        let mut on_stack = [IoSlice::new(&[]); SLICES];
        let mut on_heap = Vec::new();
        let slices = if left <= SLICES {
            &mut on_stack[..]
        } else {
            // A burst: one call for all of it is worth an allocation.
            on_heap.resize(left, IoSlice::new(&[]));
            &mut on_heap[..]
        };
        let (count, _) = gather(batch, first, skip, usize::MAX, slices);
        match out.write_vectored(&slices[..count]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => (first, skip) = advance(batch, (first, skip), n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Bytes {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn empty_queue_takes_any_message_then_bound_holds() {
        let (out, drain) = outbox(10);
        assert_eq!(out.push(&msg("this is longer than ten")), Ok(true));
        assert_eq!(out.push(&msg("x")), Err(Overflow));
        assert_eq!(drain.take_now(), b"this is longer than ten");
        assert_eq!(out.push(&msg("12345")), Ok(true));
        assert_eq!(out.push(&msg("67890")), Ok(false));
        assert_eq!(out.push(&msg("!")), Err(Overflow));
    }

    #[test]
    fn a_step_that_starts_in_an_empty_queue_is_taken_whole() {
        let (out, drain) = outbox(10);
        // A reply larger than the bound (a room JOIN_ACCEPT with its
        // history) and the announcement that follows it in the same step.
        let first = out.push_in_step(&msg("a history of many bytes"), false);
        assert_eq!(
            first,
            Ok(Pushed {
                was_empty: true,
                into_empty: true
            })
        );
        let next = out.push_in_step(&msg("joined"), true);
        assert_eq!(
            next,
            Ok(Pushed {
                was_empty: false,
                into_empty: false
            })
        );
        // Outside the step the bound holds again.
        assert_eq!(out.push_in_step(&msg("x"), false), Err(Overflow));
        assert_eq!(drain.take_now(), b"a history of many bytesjoined");
    }

    #[test]
    fn a_message_counts_until_written() {
        let (out, drain) = outbox(10);
        out.push(&msg("12345678")).unwrap();
        let mut batch = VecDeque::new();
        assert_eq!(drain.next_batch(&mut batch), Some(0));
        // Taken by the writer but not yet written: still counts.
        assert_eq!(out.push(&msg("abc")), Err(Overflow));
        drain.written(8);
        assert_eq!(out.push(&msg("abc")), Ok(true));
    }

    /// The kind and length of each chunk queued in `out`.
    fn chunks(out: &Outbox) -> Vec<(&'static str, usize)> {
        let state = out.0.state.lock();
        let kind = |c: &Chunk| match c {
            Chunk::Own(_) => "own",
            Chunk::Shared(_) => "shared",
        };
        state.queue.iter().map(|c| (kind(c), c.len())).collect()
    }

    #[test]
    fn small_messages_are_copied_into_one_buffer_and_large_ones_shared() {
        let (out, drain) = outbox(1 << 20);
        out.push(&msg("a\n")).unwrap();
        out.push(b"bc\n".to_vec()).unwrap();
        out.push(&msg("d\n")).unwrap();
        assert_eq!(chunks(&out), [("own", 7)]);
        let big = msg(&"L".repeat(COPY_MAX + 1));
        out.push(&big).unwrap();
        out.push(&msg("e\n")).unwrap();
        assert_eq!(
            chunks(&out),
            [("own", 7), ("shared", COPY_MAX + 1), ("own", 2)]
        );
        assert_eq!(Arc::strong_count(&big), 2, "shared, not copied");
        // A reply made for this connection alone is queued as it is.
        let own_big = vec![b'O'; COPY_MAX + 1];
        out.push(own_big).unwrap();
        out.push(&msg("f\n")).unwrap();
        assert_eq!(chunks(&out)[3..], [("own", COPY_MAX + 3)]);
        let want = format!(
            "a\nbc\nd\n{}e\n{}f\n",
            "L".repeat(COPY_MAX + 1),
            "O".repeat(COPY_MAX + 1)
        );
        assert_eq!(drain.take_now(), want.as_bytes());
        assert_eq!(Arc::strong_count(&big), 1, "released once written");
    }

    #[test]
    fn a_buffer_takes_copies_up_to_its_bound_then_a_new_one_starts() {
        let (out, drain) = outbox(1 << 20);
        let line = msg(&format!("{}\n", "m".repeat(99)));
        let count = CHUNK_MAX / 100 + 5;
        for _ in 0..count {
            out.push(&line).unwrap();
        }
        let lens: Vec<usize> = chunks(&out).iter().map(|&(_, len)| len).collect();
        assert_eq!(
            lens,
            [CHUNK_MAX / 100 * 100, 500 + CHUNK_MAX % 100 / 100 * 100]
        );
        assert_eq!(drain.take_now(), line.repeat(count));
    }

    /// A non-blocking write that takes at most `room` bytes into `sink`.
    fn taking(
        sink: &mut Vec<u8>,
        room: usize,
    ) -> impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize> + '_ {
        move |slices| {
            let before = sink.len();
            for slice in slices {
                let take = slice.len().min(room - (sink.len() - before));
                sink.extend_from_slice(&slice[..take]);
            }
            Ok(sink.len() - before)
        }
    }

    #[test]
    fn write_now_takes_what_the_kernel_takes_and_leaves_the_rest_in_order() {
        let (out, drain) = outbox(100);
        out.push(&msg("hello\n")).unwrap();
        out.push(&msg("world\n")).unwrap();
        let mut sent = Vec::new();
        assert!(out.write_now(taking(&mut sent, 3)), "bytes are left");
        assert_eq!(sent, b"hel");
        assert!(out.write_now(taking(&mut sent, 5)));
        assert_eq!(sent, b"hello\nwo");
        // Only unwritten bytes count against the bound.
        assert_eq!(out.push(&msg(&"x".repeat(96))), Ok(false));
        assert_eq!(out.push(&msg("y")), Err(Overflow));
        out.close_when_drained();
        let mut written = Vec::new();
        drain.run(&mut written).unwrap();
        assert_eq!(written, format!("rld\n{}", "x".repeat(96)).as_bytes());
    }

    #[test]
    fn write_now_that_takes_everything_leaves_nothing_for_the_writer() {
        let (out, drain) = outbox(100);
        out.push(&msg("a\n")).unwrap();
        let mut sent = Vec::new();
        assert!(!out.write_now(taking(&mut sent, 100)));
        assert_eq!(sent, b"a\n");
        assert!(!out.is_pending());
        assert_eq!(out.push(&msg("b\n")), Ok(true), "the queue is empty again");
        assert_eq!(drain.take_now(), b"b\n");
    }

    #[test]
    fn write_now_that_would_block_leaves_everything_for_the_writer() {
        let (out, drain) = outbox(100);
        out.push(&msg("a\n")).unwrap();
        assert!(out.write_now(|_| Err(io::ErrorKind::WouldBlock.into())));
        assert!(out.write_now(|_| Err(io::ErrorKind::BrokenPipe.into())));
        assert_eq!(drain.take_now(), b"a\n");
    }

    #[test]
    fn write_now_never_writes_while_the_writer_holds_a_batch() {
        let (out, drain) = outbox(100);
        out.push(&msg("first\n")).unwrap();
        let mut batch = VecDeque::new();
        assert_eq!(drain.next_batch(&mut batch), Some(0));
        out.push(&msg("second\n")).unwrap();
        assert!(out.write_now(|_| panic!("the writer is writing")));
        drain.written(6);
        let mut sent = Vec::new();
        assert!(!out.write_now(taking(&mut sent, 100)));
        assert_eq!(sent, b"second\n");
    }

    #[test]
    fn write_now_offers_a_bounded_amount() {
        let (out, _drain) = outbox(1 << 20);
        let big = msg(&"z".repeat(WRITE_NOW_MAX * 2));
        out.push(&big).unwrap();
        let mut sent = Vec::new();
        assert!(out.write_now(taking(&mut sent, usize::MAX)));
        assert_eq!(sent.len(), WRITE_NOW_MAX);
    }

    /// A socket that takes at most `max` bytes per call.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            let before = self.out.len();
            for buf in bufs {
                let take = buf.len().min(self.max - (self.out.len() - before));
                self.out.extend_from_slice(&buf[..take]);
            }
            Ok(self.out.len() - before)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writer_resumes_short_writes_mid_message_and_skips_empty_ones() {
        for max in [1, 3, 7, 64, 1000, usize::MAX] {
            let (out, drain) = outbox(1 << 20);
            let mut want = Vec::new();
            for i in 0..300 {
                let text = if i % 7 == 0 {
                    String::new()
                } else {
                    format!("{i}\n")
                };
                want.extend_from_slice(text.as_bytes());
                out.push(&msg(&text)).unwrap();
            }
            // The dispatcher sent a little first.
            let mut sent = Vec::new();
            out.write_now(taking(&mut sent, 4));
            out.close_when_drained();
            let mut socket = Trickle {
                out: sent,
                max,
                calls: 0,
            };
            drain.run(&mut socket).unwrap();
            assert_eq!(socket.out, want, "at most {max} bytes a call");
            if max == usize::MAX {
                assert_eq!(socket.calls, 1);
            }
        }
    }

    #[test]
    fn writer_drains_then_ends_when_closed() {
        let (out, drain) = outbox(100);
        out.push(&msg("a\n")).unwrap();
        out.push(&msg("b\n")).unwrap();
        out.close_when_drained();
        let mut written = Vec::new();
        drain.run(&mut written).unwrap();
        assert_eq!(written, b"a\nb\n");
    }

    #[test]
    fn close_now_drops_the_queue() {
        let (out, drain) = outbox(100);
        out.push(&msg("a\n")).unwrap();
        out.close_now();
        let mut written = Vec::new();
        drain.run(&mut written).unwrap();
        assert!(written.is_empty());
    }

    #[test]
    fn writer_thread_wakes_when_woken_after_pushes() {
        let (out, drain) = outbox(1 << 20);
        let writer = std::thread::spawn(move || {
            let mut written = Vec::new();
            drain.run(&mut written).unwrap();
            written
        });
        for i in 0..1000 {
            if out.push(&msg(&format!("{i}\n"))).unwrap() {
                out.wake();
            }
        }
        out.close_when_drained();
        let written = writer.join().unwrap();
        let want: String = (0..1000).map(|i| format!("{i}\n")).collect();
        assert_eq!(written, want.as_bytes());
    }
}
