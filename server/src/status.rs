//! Status lines: the server's stdout, one line per connection event and per
//! request, so that a demo audience (or a test) sees each event as it
//! happens. Warnings and debugging go through `log` to stderr.
//!
//! On the dispatcher thread, which prints a line for every request, lines
//! are gathered in a buffer and written with one `write` when the
//! dispatcher has handled the events at hand (see [`Conns::flush`]), before
//! it waits for more: a line is out before anything else happens, but a
//! burst of requests costs one system call rather than one each. Any other
//! thread writes and flushes its line at once.
//!
//! [`Conns::flush`]: crate::conns::Conns::flush

use std::cell::RefCell;
use std::fmt;
use std::io::Write;

/// A buffer this large is written out without waiting for the flush.
const FLUSH_AT: usize = 64 * 1024;

thread_local! {
    /// `Some` on a thread that called [`defer`].
    static BUFFER: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// From now on, this thread's status lines wait for [`flush`].
pub fn defer() {
    BUFFER.with(|b| *b.borrow_mut() = Some(Vec::with_capacity(FLUSH_AT)));
}

/// Prints one status line: at once, or on a deferring thread at the next
/// [`flush`]. A closed stdout is not an error worth stopping a server for,
/// so write errors are ignored.
pub fn print(line: fmt::Arguments<'_>) {
    let deferred = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let Some(buf) = b.as_mut() else {
            return false;
        };
        let _ = writeln!(buf, "{line}");
        if buf.len() >= FLUSH_AT {
            write_out(buf);
        }
        true
    });
    if !deferred {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Writes out this thread's deferred lines.
pub fn flush() {
    BUFFER.with(|b| {
        if let Some(buf) = b.borrow_mut().as_mut() {
            if !buf.is_empty() {
                write_out(buf);
            }
        }
    });
}

fn write_out(buf: &mut Vec<u8>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(buf);
    let _ = out.flush();
    buf.clear();
}
