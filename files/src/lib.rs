//! What the room server and the room client both do with the disk: store a
//! received attachment under the contract's name (base name only, never
//! overwriting an existing file) through a temporary file that is renamed
//! when complete, so that a crash never leaves half a file under the real
//! name.
//!
//! The naming rules themselves are pure and live in
//! `chat_protocol::room::free_name`; this crate adds only the file system,
//! which the protocol crate never touches.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chat_protocol::room::{base_name, free_name_from};

/// Past this many different names remembered, [`Names`] starts afresh (and
/// probes from the start again): its memory stays bounded.
const REMEMBERED_NAMES: usize = 16 * 1024;

/// Remembers, per base name, the number after the last one stored, so that
/// storing the thousandth `photo.png` probes `photo-1000.png` once rather
/// than the 999 names before it. What it remembers is only where to start:
/// the folder is still probed, so a file added by anyone else is never
/// overwritten.
#[derive(Debug, Default)]
pub struct Names {
    next: HashMap<String, u32>,
}

/// Stores `bytes` as the attachment `filename` in `dir` (created if
/// missing), under the name the contract's rules give: base name only, never
/// overwriting. The bytes go to a temporary file first, renamed when
/// complete, so nobody ever sees half a file under the stored name. Returns
/// the stored name and its path.
pub fn store(dir: &Path, filename: &str, bytes: &[u8]) -> io::Result<(String, PathBuf)> {
    store_with(&mut Names::default(), dir, filename, bytes)
}

/// [`store`], with the free-name search starting where `names` says the
/// last one of this name ended: constant cost however many files share it.
pub fn store_with(
    names: &mut Names,
    dir: &Path,
    filename: &str,
    bytes: &[u8],
) -> io::Result<(String, PathBuf)> {
    fs::create_dir_all(dir)?;
    let (temp, mut file) = temp_file(dir)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    drop(file);
    let stored = written.and_then(|()| {
        let base = base_name(filename);
        let from = names.next.get(&base).copied().unwrap_or(1);
        let (name, n) = free_name_from(&base, from, |name| dir.join(name).exists());
        let path = dir.join(&name);
        fs::rename(&temp, &path)?;
        if names.next.len() >= REMEMBERED_NAMES {
            names.next.clear();
        }
        names.next.insert(base, n.saturating_add(1));
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

    #[test]
    fn store_with_remembers_where_the_search_ended() {
        let dir = scratch("names").join("downloads");
        let mut names = Names::default();
        for n in 1..=50 {
            let (name, _) = store_with(&mut names, &dir, "up/same.txt", b"x").unwrap();
            let want = match n {
                1 => "same.txt".to_owned(),
                n => format!("same-{n}.txt"),
            };
            assert_eq!(name, want);
        }
        assert_eq!(names.next.get("same.txt"), Some(&51));
        // A file put there by someone else is probed past, never overwritten.
        fs::write(dir.join("same-51.txt"), b"theirs").unwrap();
        let (name, _) = store_with(&mut names, &dir, "same.txt", b"ours").unwrap();
        assert_eq!(name, "same-52.txt");
        assert_eq!(fs::read(dir.join("same-51.txt")).unwrap(), b"theirs");
        // A removed file's name is not reused while the number is remembered,
        // and is again by a fresh memory (which probes from the start).
        fs::remove_file(dir.join("same.txt")).unwrap();
        let (name, _) = store_with(&mut names, &dir, "same.txt", b"x").unwrap();
        assert_eq!(name, "same-53.txt");
        let (name, _) = store(&dir, "same.txt", b"x").unwrap();
        assert_eq!(name, "same.txt");
        let _ = fs::remove_dir_all(dir.parent().unwrap());
    }
}
