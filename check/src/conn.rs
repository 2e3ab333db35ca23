//! A TCP connection that records everything it sends and receives, with
//! every wait bounded by the run's `--timeout`.
//!
//! Sends are one write per call, as real course clients send one command per
//! `send()`. Reads go into a buffer of received, unconsumed bytes; the
//! `expect_*` methods take from its front. Lines are read with the lobby
//! pause rule: a line ends at LF, or, when bytes without an LF have arrived,
//! once the sender has been quiet for [`PAUSE`] (real course servers answer
//! `Alice joined!` with no line end).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Check, Failure};

/// How long a sender must be quiet for bytes without an LF to count as a line.
pub const PAUSE: Duration = Duration::from_millis(200);

/// How long a dropped connection on a shared server waits for the server
/// to close it (see [`Conn::depart_fully`]).
const DEPART: Duration = Duration::from_secs(1);

/// At most this many bytes of one transcript entry are kept.
const ENTRY_BYTES: usize = 4096;
/// At most this many entries are kept per case: the first [`HEAD`] and the
/// latest others, so that a failure late in a long case shows what led to it.
const ENTRIES: usize = 5000;
const HEAD: usize = 100;

/// Which way the bytes of an [`Entry`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Sent by the checker (to a socket or a program's stdin).
    Sent,
    /// Received by the checker (from a socket or a program's output).
    Received,
    /// Something that happened (a connection, a close, a signal).
    Note,
}

/// One timestamped line of a case's transcript.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Since the case started.
    pub at: Duration,
    /// Who: a connection's label (`alice`), `server stdout`, `client stdin`.
    pub who: String,
    pub dir: Dir,
    /// The bytes (at most 4 KiB of them; `len` says how many there were).
    pub bytes: Vec<u8>,
    pub len: usize,
}

/// A case's transcript, shared by its connections and its processes'
/// output readers.
#[derive(Clone)]
pub struct Transcript {
    start: Instant,
    entries: Arc<Mutex<Kept>>,
}

/// The entries kept: the first ones, how many were dropped after them, and
/// the latest ones.
#[derive(Default)]
struct Kept {
    head: Vec<Entry>,
    dropped: usize,
    tail: VecDeque<Entry>,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript {
            start: Instant::now(),
            entries: Arc::new(Mutex::new(Kept::default())),
        }
    }

    pub fn record(&self, who: &str, dir: Dir, bytes: &[u8]) {
        let entry = Entry {
            at: self.start.elapsed(),
            who: who.to_string(),
            dir,
            bytes: bytes[..bytes.len().min(ENTRY_BYTES)].to_vec(),
            len: bytes.len(),
        };
        let mut kept = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if kept.head.len() < HEAD {
            kept.head.push(entry);
            return;
        }
        if kept.tail.len() >= ENTRIES - HEAD {
            kept.tail.pop_front();
            kept.dropped += 1;
        }
        kept.tail.push_back(entry);
    }

    pub fn note(&self, who: &str, text: &str) {
        self.record(who, Dir::Note, text.as_bytes());
    }

    /// The entries, with one note where some were dropped.
    pub fn entries(&self) -> Vec<Entry> {
        let kept = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = kept.head.clone();
        if kept.dropped > 0 {
            let text = format!("{} entries not kept", kept.dropped);
            out.push(Entry {
                at: kept.tail.front().map_or(Duration::ZERO, |e| e.at),
                who: "check".to_string(),
                dir: Dir::Note,
                len: text.len(),
                bytes: text.into_bytes(),
            });
        }
        out.extend(kept.tail.iter().cloned());
        out
    }
}

impl Default for Transcript {
    fn default() -> Transcript {
        Transcript::new()
    }
}

/// A recorded TCP connection to the program under test (or from it, when
/// the checker plays the server).
pub struct Conn {
    stream: TcpStream,
    label: String,
    transcript: Transcript,
    timeout: Duration,
    /// Received and not yet taken by an `expect_*`.
    pending: Vec<u8>,
    /// The peer closed its sending half (or reset).
    eof: bool,
    /// What [`Conn::command`] ends a text command with.
    pub eol: &'static [u8],
    /// Wait for the peer to close when dropped (see [`Conn::depart_fully`]).
    depart_fully: bool,
    /// The sending half is closed.
    fin_sent: bool,
}

impl Conn {
    /// Connects to `addr` within `timeout`. With `starting` (a server the
    /// checker just started, which may not be listening yet), a refused
    /// connection is tried again while `starting` says the server is still
    /// running; no probe connection is ever made (some course servers exit
    /// on a connection that carries no request), the first real connection
    /// waits instead. Without it (a server that should be up), a refusal
    /// fails at once.
    pub fn connect(
        addr: SocketAddr,
        label: &str,
        transcript: &Transcript,
        timeout: Duration,
        mut starting: Option<&mut dyn FnMut() -> Result<(), Failure>>,
    ) -> Result<Conn, Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1))) {
                Ok(stream) => {
                    transcript.note(label, &format!("connected to {addr}"));
                    return Ok(Conn::new(stream, label, transcript, timeout));
                }
                Err(e)
                    if Instant::now() < deadline
                        && e.kind() == ErrorKind::ConnectionRefused
                        && starting.is_some() =>
                {
                    if let Some(alive) = starting.as_mut() {
                        alive()?;
                    }
                    // Nothing tells us when a program starts listening.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    let within = if starting.is_some() {
                        format!(" within {timeout:?}")
                    } else {
                        String::new()
                    };
                    return Err(Failure::note(format!(
                        "{label}: cannot connect to {addr}{within}: {e}"
                    )));
                }
            }
        }
    }

    /// Wraps a connected stream.
    pub fn new(stream: TcpStream, label: &str, transcript: &Transcript, timeout: Duration) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            label: label.to_string(),
            transcript: transcript.clone(),
            timeout,
            pending: Vec::new(),
            eof: false,
            eol: b"\n",
            depart_fully: false,
            fin_sent: false,
        }
    }

    /// When dropped, close the sending half and wait (bounded by the
    /// timeout) for the peer to close. On a server shared by the cases of a
    /// run, this makes every departure of a case complete before the next
    /// case starts, so that no case sees another's `X left`, whatever
    /// connection a case forgot to end.
    pub fn depart_fully(&mut self) {
        self.depart_fully = true;
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The socket itself, for what the methods here do not cover.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.peer_addr().ok()
    }

    /// Sends `bytes` in one write.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) -> Check {
        let bytes = bytes.as_ref();
        self.transcript
            .record(&self.label, crate::conn::Dir::Sent, bytes);
        self.stream.set_write_timeout(Some(self.timeout)).ok();
        self.stream.write_all(bytes).map_err(|e| {
            Failure::note(format!(
                "{}: sending {} bytes failed: {e}",
                self.label,
                bytes.len()
            ))
        })
    }

    /// Sends a text command in one write, ended by LF (or by nothing, with
    /// `--bare-commands`).
    pub fn command(&mut self, text: impl AsRef<[u8]>) -> Check {
        let mut bytes = text.as_ref().to_vec();
        bytes.extend_from_slice(self.eol);
        self.send(bytes)
    }

    /// Sends `bytes` in pieces of the given sizes, one write each (the last
    /// piece takes the rest).
    pub fn send_in_pieces(&mut self, bytes: &[u8], sizes: &mut dyn FnMut() -> usize) -> Check {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            self.send(&rest[..n])?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Sends `bytes` in pieces of the given sizes with `gap` between them, so
    /// that they arrive apart, as a slow network delivers them. The gap is
    /// not a wait for anything: it makes the split that a case checks.
    pub fn send_spaced(
        &mut self,
        bytes: &[u8],
        sizes: &mut dyn FnMut() -> usize,
        gap: Duration,
    ) -> Check {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            self.send(&rest[..n])?;
            rest = &rest[n..];
            if !rest.is_empty() {
                std::thread::sleep(gap);
            }
        }
        Ok(())
    }

    /// Closes the sending half (FIN) and keeps reading. Once only: a
    /// second call does nothing.
    pub fn finish(&mut self) {
        if self.fin_sent {
            return;
        }
        self.fin_sent = true;
        self.transcript
            .note(&self.label, "closed its sending half (FIN)");
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Ends the connection with RST instead of FIN.
    pub fn reset(mut self) {
        self.transcript
            .note(&self.label, "reset the connection (RST)");
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        // A reset is already a complete departure.
        self.depart_fully = false;
    }

    /// Reads once, waiting at most until `deadline`. Returns how many bytes
    /// arrived (0 at a deadline or at end of stream; see `eof`).
    fn fill(&mut self, deadline: Instant) -> Result<usize, Failure> {
        if self.eof {
            return Ok(0);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(0);
        }
        self.stream.set_read_timeout(Some(left)).ok();
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                self.transcript.note(&self.label, "closed by the peer");
                Ok(0)
            }
            Ok(n) => {
                self.transcript
                    .record(&self.label, Dir::Received, &buf[..n]);
                self.pending.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => {
                self.eof = true;
                self.transcript
                    .note(&self.label, &format!("connection ended: {e}"));
                Ok(0)
            }
        }
    }

    /// Reads until `done(pending)` holds, the peer closes, or the timeout.
    fn fill_until(&mut self, done: &mut dyn FnMut(&[u8]) -> bool) -> Result<bool, Failure> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if done(&self.pending) {
                return Ok(true);
            }
            if self.eof || Instant::now() >= deadline {
                return Ok(false);
            }
            self.fill(deadline)?;
        }
    }

    fn ending(&self) -> &'static str {
        if self.eof {
            " (then the connection closed)"
        } else {
            " (then nothing more arrived in time)"
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        if !self.fill_until(&mut |p| p.len() >= n)? {
            return Err(Failure::new(
                format!("{}: {n} bytes{}", self.label, self.ending()),
                format!("{n} bytes"),
                self.pending.clone(),
            ));
        }
        Ok(self.pending.drain(..n).collect())
    }

    /// Expects exactly `want` next.
    pub fn expect_bytes(&mut self, want: impl AsRef<[u8]>) -> Check {
        let want = want.as_ref();
        let n = want.len();
        // Stop early at the first byte that differs.
        let ok = self.fill_until(&mut |p| p.len() >= n || !want.starts_with(p))?;
        if ok && self.pending.len() >= n && &self.pending[..n] == want {
            self.pending.drain(..n);
            return Ok(());
        }
        // Show a little of what came after, for context.
        let _ = self.fill(Instant::now() + Duration::from_millis(20));
        let shown = self.pending.len().min(n + 64);
        let ending = if want.starts_with(&self.pending) {
            self.ending()
        } else {
            ""
        };
        Err(Failure::new(
            format!("{}: unexpected bytes{ending}", self.label),
            want,
            &self.pending[..shown],
        ))
    }

    /// Expects `want` next, where every `HH:MM:SS` in it stands for any
    /// time of that shape (see [`like`]).
    pub fn expect_like(&mut self, want: impl AsRef<[u8]>) -> Check {
        let want = want.as_ref();
        let n = want.len();
        let ok = self.fill_until(&mut |p| p.len() >= n)?;
        if ok && like(&self.pending[..n], want) {
            self.pending.drain(..n);
            return Ok(());
        }
        let shown = self.pending.len().min(n + 64);
        Err(Failure::new(
            format!("{}: unexpected bytes{}", self.label, self.ending()),
            want,
            &self.pending[..shown],
        ))
    }

    /// Reads one line by the lobby rule: up to an LF (taken, with a CR
    /// before it), or, when bytes without an LF have arrived and the peer
    /// then pauses for [`PAUSE`] or closes, those bytes. `None` when nothing
    /// arrived in time.
    pub fn read_line(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if !self.pending.is_empty() {
                // Bytes without an LF: they are a line once the peer pauses.
                if self.fill(Instant::now() + PAUSE)? == 0 || Instant::now() >= deadline {
                    return Ok(Some(std::mem::take(&mut self.pending)));
                }
                continue;
            }
            if self.eof || Instant::now() >= deadline {
                return Ok(None);
            }
            self.fill(deadline)?;
        }
    }

    /// Expects the line `want` next, ended by LF (CR LF) or by a pause.
    /// Replies of real course servers without line ends that arrive glued
    /// together (`Bob joined!Carol joined!`) are taken one expected line at
    /// a time: when what arrived starts with `want` and has no LF, `want`
    /// is taken and the rest stays.
    pub fn expect_line(&mut self, want: impl AsRef<[u8]>) -> Check {
        let want = want.as_ref();
        // Wait for the whole of `want`, a line end, a byte that differs, or
        // (the lobby rule) a pause after some bytes: a shorter line.
        let deadline = Instant::now() + self.timeout;
        loop {
            let p = &self.pending;
            if p.len() >= want.len() || p.contains(&b'\n') || !want.starts_with(p) {
                break;
            }
            if self.eof || Instant::now() >= deadline {
                break;
            }
            let until = if p.is_empty() {
                deadline
            } else {
                (Instant::now() + PAUSE).min(deadline)
            };
            if self.fill(until)? == 0 && !self.pending.is_empty() {
                break;
            }
        }
        if self.pending.is_empty() {
            return Err(Failure::new(
                format!("{}: no line{}", self.label, self.ending()),
                want,
                "",
            ));
        }
        let n = want.len();
        if self.pending.len() == n && self.pending == want {
            // All of it and nothing after: an LF may follow, or a pause.
            self.fill(Instant::now() + PAUSE)?;
        }
        if !self.pending.contains(&b'\n') && self.pending.starts_with(want) {
            // No line end: the reply ended by a pause, or glued to the next.
            self.pending.drain(..n);
            return Ok(());
        }
        match self.read_line()? {
            Some(line) if line == want => Ok(()),
            Some(line) => Err(Failure::new(
                format!("{}: unexpected line", self.label),
                want,
                line,
            )),
            None => Err(Failure::new(
                format!("{}: no line{}", self.label, self.ending()),
                want,
                "",
            )),
        }
    }

    /// Expects these lines next, in order.
    pub fn expect_lines<S: AsRef<[u8]>>(&mut self, want: &[S]) -> Check {
        want.iter().try_for_each(|line| self.expect_line(line))
    }

    /// Expects the peer to close the connection (FIN or RST) with nothing
    /// more sent.
    pub fn expect_closed(&mut self) -> Check {
        self.fill_until(&mut |p| !p.is_empty())?;
        if self.pending.is_empty() && self.eof {
            return Ok(());
        }
        let what = if self.pending.is_empty() {
            format!(
                "{}: the connection was not closed within {:?}",
                self.label, self.timeout
            )
        } else {
            format!(
                "{}: expected the connection to close, got more bytes",
                self.label
            )
        };
        Err(Failure::new(
            what,
            "(connection closed)",
            self.pending.clone(),
        ))
    }

    /// Expects nothing to arrive for `quiet` (shorter than the timeout):
    /// for the rare rule that only silence can show. Prefer a probe whose
    /// answer proves nothing came before it.
    pub fn expect_silence(&mut self, quiet: Duration) -> Check {
        let deadline = Instant::now() + quiet;
        while Instant::now() < deadline && self.pending.is_empty() && !self.eof {
            self.fill(deadline)?;
        }
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                format!("{}: expected nothing for {quiet:?}", self.label),
                "",
                self.pending.clone(),
            ))
        }
    }

    /// Reads whatever arrives until the peer closes or `limit` bytes have
    /// come, within the timeout.
    pub fn read_to_close(&mut self, limit: usize) -> Result<Vec<u8>, Failure> {
        self.fill_until(&mut |p| p.len() >= limit)?;
        Ok(std::mem::take(&mut self.pending))
    }

    /// Takes every byte received so far without waiting.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Whether the peer has closed (as far as reads so far have shown).
    pub fn is_closed(&self) -> bool {
        self.eof
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.depart_fully && !self.eof {
            self.finish();
            // A server that never closes after a FIN costs at most this
            // per connection, not the whole timeout.
            self.timeout = self.timeout.min(DEPART);
            let _ = self.read_to_close(1 << 20);
            if !self.eof {
                self.transcript.note(
                    &self.label,
                    &format!("not closed by the server within {DEPART:?} of its FIN"),
                );
            }
        }
    }
}

/// What [`like`] reads as "any time of day".
pub const TIME: &str = "HH:MM:SS";

/// Whether `got` is `want` with every `HH:MM:SS` in `want` standing for two
/// digits, a colon, two digits, a colon and two digits.
pub fn like(got: &[u8], want: &[u8]) -> bool {
    if got.len() != want.len() {
        return false;
    }
    let mut i = 0;
    while i < want.len() {
        if want[i..].starts_with(TIME.as_bytes()) {
            let shape_ok = got[i..i + TIME.len()].iter().enumerate().all(|(k, &b)| {
                if k % 3 == 2 {
                    b == b':'
                } else {
                    b.is_ascii_digit()
                }
            });
            if !shape_ok {
                return false;
            }
            i += TIME.len();
        } else {
            if got[i] != want[i] {
                return false;
            }
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_transcript_keeps_its_start_and_its_end() {
        let t = Transcript::new();
        for i in 0..ENTRIES + 10 {
            t.record("a", Dir::Sent, i.to_string().as_bytes());
        }
        let e = t.entries();
        assert_eq!(e.len(), ENTRIES + 1);
        assert_eq!(e[0].bytes, b"0");
        assert_eq!(e[HEAD].bytes, b"10 entries not kept");
        assert_eq!(e[HEAD + 1].bytes, (HEAD + 10).to_string().as_bytes());
        assert_eq!(
            e.last().map(|e| e.bytes.clone()),
            Some((ENTRIES + 9).to_string().into_bytes())
        );
    }

    #[test]
    fn like_matches_times_only_where_the_placeholder_is() {
        for (got, want, ok) in [
            ("[12:00:01] a", "[HH:MM:SS] a", true),
            ("[12:00:0x] a", "[HH:MM:SS] a", false),
            ("[12-00:01] a", "[HH:MM:SS] a", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("ab", "abc", false),
        ] {
            assert_eq!(
                like(got.as_bytes(), want.as_bytes()),
                ok,
                "{got:?} {want:?}"
            );
        }
    }
}
