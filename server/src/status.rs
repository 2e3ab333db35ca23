//! Status lines: the server's stdout, one line per connection event and per
//! request, flushed at once so that a demo audience (or a test) sees each
//! event as it happens. Warnings and debugging go through `log` to stderr.

use std::fmt;
use std::io::Write;

/// Prints one status line and flushes it. A closed stdout is not an error
/// worth stopping a server for, so write errors are ignored.
pub fn print(line: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
