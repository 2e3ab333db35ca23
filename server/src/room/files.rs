//! The room's two kinds of files: the `--history` file and the attachments in
//! the downloads folder.
//!
//! These run on the dispatcher thread. A file write can stall it for as long
//! as the disk takes (an attachment is at most `--max-attachment` bytes);
//! for a course server that is an accepted cost, and it keeps every state
//! change in one place. What never happens here is waiting on a socket.

#[cfg(test)]
use std::fs;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub use chat_files::store;

/// The history file: read back once at start, then appended to per entry.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    file: File,
}

impl HistoryFile {
    /// Opens (or creates) `path` and returns it with the history it holds.
    /// A last entry cut off by a crash (no final LF) is dropped with a
    /// warning, and cut from the file too, so the next entry starts on a
    /// line of its own.
    pub fn open(path: &Path) -> io::Result<(HistoryFile, Vec<u8>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut history = Vec::new();
        file.read_to_end(&mut history)?;
        let whole = history
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |lf| lf + 1);
        if whole < history.len() {
            log::warn!(
                "{}: ignoring a torn last line ({} bytes without a line end)",
                path.display(),
                history.len() - whole
            );
            history.truncate(whole);
            file.set_len(whole as u64)?;
        }
        let history_file = HistoryFile {
            path: path.to_owned(),
            file,
        };
        Ok((history_file, history))
    }

    /// Appends one entry. A failed write costs the file that entry, not the
    /// chat: it is logged and the room goes on.
    pub fn append(&mut self, entry: &[u8]) {
        if let Err(e) = self.file.write_all(entry) {
            log::warn!("{}: cannot append to the history: {e}", self.path.display());
        }
    }

    /// Makes sure what was appended is on disk (at shutdown).
    pub fn sync(&mut self) {
        if let Err(e) = self.file.sync_data() {
            log::warn!("{}: cannot sync the history: {e}", self.path.display());
        }
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
        let (mut file, history) = HistoryFile::open(&path).unwrap();
        assert_eq!(history, b"[10:00:00] A: one\ntwo\n");
        file.append(b"[10:00:02] C: three\n");
        drop(file);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[10:00:00] A: one\ntwo\n[10:00:02] C: three\n"
        );
        let _ = fs::remove_dir_all(dir);
    }
}
