//! What the room server and the room client both do with the disk: store a
//! received attachment under the contract's name (base name only, never
//! overwriting an existing file) through a temporary file that is renamed
//! when complete, so that a crash never leaves half a file under the real
//! name.
//!
//! The naming rules themselves are pure and live in
//! `chat_protocol::room::free_name`; this crate adds only the file system,
//! which the protocol crate never touches.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chat_protocol::room::free_name;

/// Stores `bytes` as the attachment `filename` in `dir` (created if
/// missing), under the name the contract's rules give: base name only, never
/// overwriting. The bytes go to a temporary file first, renamed when
/// complete, so nobody ever sees half a file under the stored name. Returns
/// the stored name and its path.
pub fn store(dir: &Path, filename: &str, bytes: &[u8]) -> io::Result<(String, PathBuf)> {
    fs::create_dir_all(dir)?;
    let (temp, mut file) = temp_file(dir)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    drop(file);
    let stored = written.and_then(|()| {
        let name = free_name(filename, |name| dir.join(name).exists());
        let path = dir.join(&name);
        fs::rename(&temp, &path)?;
        Ok((name, path))
    });
    if stored.is_err() {
        let _ = fs::remove_file(&temp);
    }
    stored
}

/// A new file in `dir` for an attachment being written; `create_new`, so it
/// can never clobber a stored attachment that happens to share the name.
fn temp_file(dir: &Path) -> io::Result<(PathBuf, File)> {
    let mut n = std::process::id();
    loop {
        let path = dir.join(format!(".incoming-{n}.part"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n = n.wrapping_add(1),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn store_never_overwrites_and_leaves_no_temporary_file() {
        let dir = scratch("store").join("downloads");
        let (a, _) = store(&dir, "x/../a.txt", b"one").unwrap();
        let (b, path) = store(&dir, "a.txt", b"two").unwrap();
        let (c, _) = store(&dir, "..", b"three").unwrap();
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("a.txt", "a-2.txt", "attachment")
        );
        assert_eq!(path, dir.join("a-2.txt"));
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"one");
        assert_eq!(fs::read(dir.join("a-2.txt")).unwrap(), b"two");
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a-2.txt", "a.txt", "attachment"]);
        let _ = fs::remove_dir_all(dir.parent().unwrap());
    }
}
