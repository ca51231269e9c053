//! File identity: is the file at a path still the one we read up to a position?
//!
//! A path is not an identity (files are rotated and replaced) and neither is an inode (inodes
//! are reused) nor the first line or first KiB (many small logs share their header). The
//! identity of "what was read so far" is a hash of the first KiB together with a hash of the
//! 256 bytes just before the position: a file that was truncated, replaced or rewritten differs
//! in one of them, while a file that only grew keeps both.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use flate2::read::MultiGzDecoder;

const HEAD: u64 = 1024;
const TAIL: u64 = 256;

/// The fingerprint of `file`'s first `upto` bytes, as stored next to the position.
pub fn fingerprint(file: &File, upto: u64) -> io::Result<String> {
    let head = read_range(file, 0, upto.min(HEAD))?;
    let tail_start = upto.saturating_sub(TAIL);
    let tail = read_range(file, tail_start, upto - tail_start)?;
    Ok(format!(
        "{upto}:{:016x}:{:016x}",
        xxhash_rust::xxh3::xxh3_64(&head),
        xxhash_rust::xxh3::xxh3_64(&tail)
    ))
}

fn read_range(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Whether `head` (a file's first bytes, at least its first KiB when it has one) agrees with
/// the first-KiB part of a stored [`fingerprint`]: a cheap filter before comparing whole
/// fingerprints of many candidate files.
pub fn head_matches(head: &[u8], identity: &str) -> bool {
    let mut parts = identity.split(':');
    let (Some(upto), Some(hash)) = (parts.next(), parts.next()) else { return false };
    let Ok(upto) = upto.parse::<u64>() else { return false };
    let n = upto.min(HEAD) as usize;
    head.len() >= n && format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&head[..n])) == hash
}

/// Whether `file` is gzip-compressed, by its magic bytes (never by its name). Reads two
/// bytes at offset 0 without moving the file's cursor.
pub fn is_gzip(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    match file.read_exact_at(&mut magic, 0) {
        Ok(()) => Ok(magic == [0x1f, 0x8b]),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// A reader of `file`'s content from its start: decompressed when it is gzip (by magic
/// bytes), as is otherwise. The flag says which.
pub fn open_maybe_gz(mut file: File) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let gz = is_gzip(&file)?;
    file.seek(SeekFrom::Start(0))?;
    if gz {
        Ok((Box::new(MultiGzDecoder::new(file)), true))
    } else {
        Ok((Box::new(file), false))
    }
}

/// What to do with a file given the position and identity stored for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// Same file (possibly grown): continue at the position.
    At(u64),
    /// Shorter than the position, or different before it: a new version, read from 0.
    NewVersion(&'static str),
}

/// Decides where to resume reading `file` (of `len` bytes).
pub fn resume(file: &File, len: u64, position: u64, identity: Option<&str>) -> io::Result<Resume> {
    if position == 0 {
        return Ok(Resume::At(0));
    }
    if len < position {
        return Ok(Resume::NewVersion("truncated"));
    }
    match identity {
        Some(id) if id == fingerprint(file, position)? => Ok(Resume::At(position)),
        Some(_) => Ok(Resume::NewVersion("replaced")),
        None => Ok(Resume::At(position)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn growing_keeps_identity_and_rewriting_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let header = "=".repeat(2000);
        std::fs::write(&path, format!("{header}\nrun 1 ok\n")).unwrap();
        let f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        let id = fingerprint(&f, len).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"more\n").unwrap();
        let f = File::open(&path).unwrap();
        assert_eq!(resume(&f, len + 5, len, Some(&id)).unwrap(), Resume::At(len));
        // Same header, same length, different last line: another write-once log.
        std::fs::write(&path, format!("{header}\nrun 2 ok\nmore\n")).unwrap();
        let f = File::open(&path).unwrap();
        assert_eq!(resume(&f, len + 5, len, Some(&id)).unwrap(), Resume::NewVersion("replaced"));
        assert_eq!(resume(&f, 3, len, Some(&id)).unwrap(), Resume::NewVersion("truncated"));
    }
}
