//! The room's two kinds of files: the `--history` file and the attachments in
//! the downloads folder.
//!
//! Once the server serves, these run on the disk thread only (`disk.rs`):
//! a slow disk delays what waits for it, never the dispatcher. The history
//! file is read back at start, before there is a dispatcher.

#[cfg(test)]
use std::fs;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub use chat_files::{store_with, Names};

use super::history::{entry_time, History};

/// The history file: read back once at start, then appended to per entry.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    file: File,
    /// The file's length: every byte of it whole entries. A failed append
    /// is cut back to it.
    len: u64,
}

impl HistoryFile {
    /// Opens (or creates) `path` and reads it into `history` in one pass,
    /// keeping only the newest entries `history` holds (an entry starts
    /// with a line `[HH:MM:SS] `; other lines continue it). A last entry cut
    /// off by a crash (no final LF) is dropped with a warning, and cut from
    /// the file too, so the next entry starts on a line of its own.
    pub fn open(path: &Path, history: &mut History) -> io::Result<HistoryFile> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut reader = BufReader::with_capacity(64 * 1024, &mut file);
        let (mut len, mut line) = (0u64, Vec::new());
        // The entry being read; `None` once it grew past what `history`
        // could keep, so that one huge entry cannot take the memory.
        let mut entry: Option<Vec<u8>> = None;
        let mut started = false;
        let cap = history.limit();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || !line.ends_with(b"\n") {
                if n > 0 {
                    log::warn!(
                        "{}: ignoring a torn last line ({n} bytes without a line end)",
                        path.display()
                    );
                }
                break;
            }
            len += n as u64;
            if entry_time(&line).is_some() || !started {
                finish(history, entry.take(), started);
                entry = Some(Vec::new());
                started = true;
            }
            if let Some(bytes) = &mut entry {
                if bytes.len() + line.len() <= cap {
                    bytes.extend_from_slice(&line);
                } else {
                    entry = None;
                }
            }
        }
        finish(history, entry, started);
        drop(reader);
        if file.metadata()?.len() > len {
            file.set_len(len)?;
        }
        Ok(HistoryFile {
            path: path.to_owned(),
            file,
            len,
        })
    }

    /// Appends one entry. A failed write (a full disk) costs the file that
    /// entry, not the chat: the file is cut back to its last whole entry,
    /// the failure reported on stderr, and the room goes on.
    pub fn append(&mut self, entry: &[u8]) {
        match self.file.write_all(entry) {
            Ok(()) => self.len += entry.len() as u64,
            Err(e) => {
                let cut = self.file.set_len(self.len);
                log::error!(
                    "{}: cannot append to the history: {e}; {}",
                    self.path.display(),
                    match cut {
                        Ok(()) => format!("cut back to its last whole entry ({} bytes)", self.len),
                        Err(cut) => format!("cannot cut back the partial entry: {cut}"),
                    }
                );
            }
        }
    }

    /// Makes sure what was appended is on disk (at shutdown).
    pub fn sync(&mut self) {
        if let Err(e) = self.file.sync_data() {
            log::warn!("{}: cannot sync the history: {e}", self.path.display());
        }
    }
}

/// Hands an entry read back to `history`: kept, or only counted when it
/// was too large to keep.
fn finish(history: &mut History, entry: Option<Vec<u8>>, started: bool) {
    match entry {
        Some(bytes) => history.push(&bytes),
        None if started => history.forget_one(),
        None => {}
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder.
    pub fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chat-room-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn history_file_drops_a_torn_last_line() {
        let dir = scratch("history");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.txt");
        fs::write(&path, "[10:00:00] A: one\ntwo\n[10:00:01] B: tor").unwrap();
        let mut history = History::new(1000);
        let mut file = HistoryFile::open(&path, &mut history).unwrap();
        assert_eq!(history.join_payload(), b"[10:00:00] A: one\ntwo\n");
        file.append(b"[10:00:02] C: three\n");
        drop(file);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[10:00:00] A: one\ntwo\n[10:00:02] C: three\n"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn history_file_reads_back_only_the_newest_entries() {
        let dir = scratch("history-newest");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.txt");
        let mut text = String::new();
        for n in 0..10_000 {
            text.push_str(&format!("[10:00:00] A: message {n:05}\n"));
        }
        // One entry larger than what a joiner may get, and a multi-line one.
        text.push_str(&format!("[10:00:01] B: {}\n", "x".repeat(5000)));
        text.push_str("[10:00:02] C: two\nlines\n");
        fs::write(&path, &text).unwrap();
        let mut history = History::new(100);
        HistoryFile::open(&path, &mut history).unwrap();
        assert_eq!(
            String::from_utf8(history.join_payload()).unwrap(),
            "[10:00:02] Server: 10001 earlier messages are not shown.\n\
             [10:00:02] C: two\nlines\n"
        );
        assert!(history.contents().len() <= 100);
        let _ = fs::remove_dir_all(dir);
    }
}
