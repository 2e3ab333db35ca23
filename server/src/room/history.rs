//! The room's history in memory: the newest entries, no more bytes of them
//! than one JOIN_ACCEPT may carry (`--join-history`), and how many older
//! ones were let go.
//!
//! This is what bounds the room's memory however long it chats, and what
//! keeps every JOIN_ACCEPT within `--join-history`: a joiner gets the
//! newest whole entries that fit after one first entry saying how many are
//! not shown. The history file (if any) keeps every entry; this keeps only
//! what a joiner can be sent.

use std::collections::VecDeque;

use chat_protocol::room::encode_entry;

/// The user the "not shown" entry comes from.
const SERVER: &str = "Server";

#[derive(Debug)]
pub struct History {
    /// The most bytes a JOIN_ACCEPT's payload may have.
    limit: usize,
    /// The entries kept, back to back, oldest first.
    bytes: VecDeque<u8>,
    /// The length of each entry kept, oldest first.
    lens: VecDeque<usize>,
    /// Entries let go (older than every one kept).
    forgotten: u64,
    /// The time of the newest entry, for a "not shown" entry when none
    /// fits.
    newest_time: String,
}

impl History {
    /// An empty history whose JOIN_ACCEPTs carry at most `limit` bytes.
    pub fn new(limit: usize) -> History {
        History {
            limit,
            bytes: VecDeque::new(),
            lens: VecDeque::new(),
            forgotten: 0,
            newest_time: String::new(),
        }
    }

    /// The most bytes a JOIN_ACCEPT's payload may have.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Adds one whole entry (`[HH:MM:SS] user: text` and its LF), letting
    /// the oldest go while more than `limit` bytes are kept.
    pub fn push(&mut self, entry: &[u8]) {
        if let Some(time) = entry_time(entry) {
            self.newest_time = time.to_owned();
        }
        self.bytes.extend(entry);
        self.lens.push_back(entry.len());
        while self.bytes.len() > self.limit {
            let Some(len) = self.lens.pop_front() else {
                break;
            };
            self.bytes.drain(..len);
            self.forgotten += 1;
        }
    }

    /// Counts one entry that is not kept at all (read back from a file,
    /// too large to keep).
    pub fn forget_one(&mut self) {
        self.forgotten += 1;
    }

    /// The payload of a JOIN_ACCEPT: every entry when they fit, else the
    /// newest whole entries that fit after a first entry
    /// `[HH:MM:SS] Server: <N> earlier messages are not shown.` (the time
    /// of the oldest one shown), the whole at most `limit` bytes.
    pub fn join_payload(&self) -> Vec<u8> {
        if self.forgotten == 0 && self.bytes.len() <= self.limit {
            return self.bytes.iter().copied().collect();
        }
        let total = self.lens.len();
        // Take entries from the newest while the note and they fit. An
        // entry is longer than the note grows by a digit, so once one does
        // not fit no older one would.
        let (mut shown, mut size) = (0, 0);
        let mut time = self.newest_time.clone();
        for &len in self.lens.iter().rev() {
            let hidden = self.forgotten + (total - shown - 1) as u64;
            let start = self.bytes.len() - size - len;
            let its_time = self.time_at(start).unwrap_or_else(|| time.clone());
            if note(&its_time, hidden).len() + size + len > self.limit {
                break;
            }
            (shown, size, time) = (shown + 1, size + len, its_time);
        }
        let hidden = self.forgotten + (total - shown) as u64;
        let mut out = note(&time, hidden);
        out.extend(self.bytes.range(self.bytes.len() - size..));
        out
    }

    /// The time of the entry that starts at byte `start`.
    fn time_at(&self, start: usize) -> Option<String> {
        let head: Vec<u8> = self.bytes.range(start..).take(11).copied().collect();
        entry_time(&head).map(str::to_owned)
    }

    /// Every entry kept, oldest first.
    #[cfg(test)]
    pub fn contents(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }
}

/// The first entry of a JOIN_ACCEPT that does not carry every entry.
fn note(time: &str, hidden: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let text = format!("{hidden} earlier messages are not shown.");
    encode_entry(time, SERVER, text.as_bytes(), &mut out);
    out
}

/// `HH:MM:SS` when `line` starts an entry: `[HH:MM:SS] `.
pub fn entry_time(line: &[u8]) -> Option<&str> {
    let head = line.get(..11)?;
    let digits = [1, 2, 4, 5, 7, 8].iter().all(|&i| head[i].is_ascii_digit());
    let shape = head[0] == b'[' && head[3] == b':' && head[6] == b':' && head[9] == b']';
    if digits && shape && head[10] == b' ' {
        std::str::from_utf8(&head[1..9]).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: &str, text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entry(time, "Al", text.as_bytes(), &mut out);
        out
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn everything_while_it_fits() {
        let mut h = History::new(1000);
        h.push(&entry("10:00:00", "one"));
        h.push(&entry("10:00:01", "two\nlines"));
        assert_eq!(
            text(h.join_payload()),
            "[10:00:00] Al: one\n[10:00:01] Al: two\nlines\n"
        );
    }

    /// A history of `limit` bytes given ten entries of 20 bytes,
    /// `[10:00:0N] Al: NNNN`.
    fn ten_entries(limit: usize) -> History {
        let mut h = History::new(limit);
        for n in 0..10 {
            h.push(&entry(&format!("10:00:0{n}"), &format!("{n}{n}{n}{n}")));
        }
        h
    }

    #[test]
    fn the_newest_whole_entries_after_a_note_within_the_limit() {
        // Each entry is 20 bytes: `[10:00:0N] Al: 1234\n`.
        let note_len = "[10:00:07] Server: 7 earlier messages are not shown.\n".len();
        let limit = note_len + 3 * 20;
        let h = ten_entries(limit);
        let payload = h.join_payload();
        assert!(payload.len() <= limit);
        assert_eq!(
            text(payload),
            "[10:00:07] Server: 7 earlier messages are not shown.\n\
             [10:00:07] Al: 7777\n[10:00:08] Al: 8888\n[10:00:09] Al: 9999\n"
        );
        // Memory holds no more than the limit.
        assert!(h.contents().len() <= limit);
        // One byte less: one entry fewer.
        let h = ten_entries(limit - 1);
        assert_eq!(
            text(h.join_payload()),
            "[10:00:08] Server: 8 earlier messages are not shown.\n\
             [10:00:08] Al: 8888\n[10:00:09] Al: 9999\n"
        );
    }

    #[test]
    fn an_entry_larger_than_the_limit_is_only_counted() {
        let mut h = History::new(80);
        h.push(&entry("10:00:00", "short"));
        h.push(&entry("10:00:01", &"x".repeat(100)));
        assert_eq!(
            text(h.join_payload()),
            "[10:00:01] Server: 2 earlier messages are not shown.\n"
        );
        h.forget_one();
        h.push(&entry("10:00:02", "hi"));
        assert_eq!(
            text(h.join_payload()),
            "[10:00:02] Server: 3 earlier messages are not shown.\n[10:00:02] Al: hi\n"
        );
    }

    #[test]
    fn entry_starts() {
        let cases: Vec<(&[u8], Option<&str>)> = vec![
            (b"[10:00:00] Al: hi", Some("10:00:00")),
            (b"[10:00:00] ", Some("10:00:00")),
            (b"[10:00:00]x", None),
            (b"[1a:00:00] Al: hi", None),
            (b"[10:00:00", None),
            (b"continued line", None),
            (b"", None),
        ];
        for (line, want) in cases {
            assert_eq!(entry_time(line), want, "{line:?}");
        }
    }
}
