//! The disk thread: the one place the server writes its files once it
//! serves (the bridge registry, the room history and attachments).
//!
//! The dispatcher never touches the disk: a dialect hands the work to
//! [`Disk::run`] as a job, with what to do with its result; the disk thread
//! runs the jobs one at a time in the order given (so appends stay in
//! order), and sends each result back to the dispatcher as an
//! [`Event::Disk`](crate::dispatch::Event::Disk), which applies it to the
//! dialect like any other event. A slow disk (NFS, a stalled USB stick)
//! then delays only what waits for that disk, never other clients.
//!
//! The job queue is bounded ([`JOBS`]); results come back on a channel of
//! their own, which holds at most as many as there are jobs (plus the one
//! running), so the disk thread never waits for the dispatcher and the two
//! cannot wait for each other. Only a dispatcher that has queued [`JOBS`]
//! jobs behind a stalled disk waits for it: back-pressure, memory bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender};

use crate::conns::Conns;
use crate::dispatch::{Dialect, Event};

/// Jobs waiting for the disk thread.
pub const JOBS: usize = 1024;

/// Work for the disk thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// What a finished job does on the dispatcher thread.
pub type Done<D> = Box<dyn FnOnce(&mut D, &mut Conns) + Send>;

/// A dialect's way to the disk thread.
pub struct Disk<D: Dialect> {
    jobs: Sender<Job>,
    done: Sender<Event<D>>,
    /// Jobs given and not yet finished.
    outstanding: Arc<AtomicUsize>,
}

impl<D: Dialect> Clone for Disk<D> {
    fn clone(&self) -> Self {
        Disk {
            jobs: self.jobs.clone(),
            done: self.done.clone(),
            outstanding: self.outstanding.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for Disk<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Disk({} jobs queued)", self.jobs.len())
    }
}

impl<D: Dialect> Disk<D> {
    pub fn new(jobs: Sender<Job>, done: Sender<Event<D>>, outstanding: Arc<AtomicUsize>) -> Self {
        Disk {
            jobs,
            done,
            outstanding,
        }
    }

    /// Runs `work` on the disk thread, after every job given before it,
    /// then `then` with its result on the dispatcher thread.
    pub fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
        then: impl FnOnce(&mut D, &mut Conns, R) + Send + 'static,
    ) {
        let done = self.done.clone();
        self.submit(Box::new(move || {
            let result = work();
            let then: Done<D> = Box::new(move |dialect, conns| then(dialect, conns, result));
            // Only a dispatcher that has ended drops the results.
            let _ = done.send(Event::Disk(then));
        }));
    }

    /// Runs `work` on the disk thread, after every job given before it;
    /// nothing comes back.
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        self.submit(Box::new(work));
    }

    /// [`spawn`](Self::spawn) unless the queue is full (a stalled disk):
    /// for work that must not hold up the exit. Whether it was queued.
    pub fn spawn_unless_full(&self, work: impl FnOnce() + Send + 'static) -> bool {
        let outstanding = self.outstanding.clone();
        outstanding.fetch_add(1, Ordering::AcqRel);
        let counted = outstanding.clone();
        let job: Job = Box::new(move || {
            work();
            counted.fetch_sub(1, Ordering::AcqRel);
        });
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(crossbeam_channel::TrySendError::Disconnected(job)) => {
                job();
                true
            }
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                outstanding.fetch_sub(1, Ordering::AcqRel);
                false
            }
        }
    }

    fn submit(&self, job: Job) {
        let outstanding = self.outstanding.clone();
        outstanding.fetch_add(1, Ordering::AcqRel);
        let job: Job = Box::new(move || {
            job();
            outstanding.fetch_sub(1, Ordering::AcqRel);
        });
        // A disk thread that could not start (or has gone) leaves the work
        // to the caller: slower, never lost.
        if let Err(unsent) = self.jobs.send(job) {
            (unsent.into_inner())();
        }
    }
}

/// Starts the disk thread, which runs `jobs` in order until every sender is
/// gone. When it cannot start, the jobs are run by whoever submits them.
pub fn start(jobs: Receiver<Job>) {
    let started = thread::Builder::new().name("disk".into()).spawn(move || {
        for job in jobs {
            job();
        }
    });
    if let Err(e) = started {
        log::warn!("cannot start the disk thread ({e}); files are written on the dispatcher");
    }
}
