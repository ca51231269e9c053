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

/// The bytes at the start of a file that every identity covers.
pub const HEAD: u64 = 1024;
const TAIL: u64 = 256;

/// The fingerprint of `file`'s first `upto` bytes, as stored next to the position.
pub fn fingerprint(file: &File, upto: u64) -> io::Result<String> {
    let head = read_range(file, 0, upto.min(HEAD))?;
    let tail_start = upto.saturating_sub(TAIL);
    let tail = read_range(file, tail_start, upto - tail_start)?;
    Ok(identity(upto, &head, &tail))
}

fn identity(upto: u64, head: &[u8], tail: &[u8]) -> String {
    format!(
        "{upto}:{:016x}:{:016x}",
        xxhash_rust::xxh3::xxh3_64(head),
        xxhash_rust::xxh3::xxh3_64(tail)
    )
}

/// The same fingerprint over a stream (a decompressed gzip file), computed as it is read:
/// it keeps the first KiB and the last 256 bytes it passed on.
#[derive(Debug)]
pub struct Tracking<R> {
    inner: R,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
}

impl<R: Read> Tracking<R> {
    pub fn new(inner: R) -> Tracking<R> {
        Tracking { inner, head: Vec::new(), tail: Default::default(), total: 0 }
    }

    /// Bytes passed on so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The fingerprint of everything passed on so far.
    pub fn fingerprint(&self) -> String {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        identity(self.total, &self.head, &tail)
    }
}

impl<R: Read> Read for Tracking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        let room = (HEAD as usize).saturating_sub(self.head.len());
        self.head.extend_from_slice(&got[..room.min(n)]);
        let keep = &got[n.saturating_sub(TAIL as usize)..];
        self.tail.extend(keep);
        while self.tail.len() > TAIL as usize {
            self.tail.pop_front();
        }
        self.total += n as u64;
        Ok(n)
    }
}

/// The fingerprint of the first `upto` decompressed bytes of a gzip file and its first KiB,
/// or `None` when it holds fewer than `upto` bytes.
pub fn gz_fingerprint(file: &File, upto: u64) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(0))?;
    let mut t = Tracking::new(MultiGzDecoder::new(file).take(upto));
    io::copy(&mut t, &mut io::sink())?;
    if t.total() < upto {
        return Ok(None);
    }
    let head = t.head.clone();
    Ok(Some((t.fingerprint(), head)))
}

fn read_range(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The position a stored identity was taken at.
pub fn identity_position(identity: &str) -> Option<u64> {
    identity.split(':').next()?.parse().ok()
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
    fn a_gzip_copy_has_the_fingerprint_of_its_plain_original() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.log");
        let text: String = (0..500).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("a.log.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let len = text.len() as u64;
        let want = fingerprint(&File::open(&plain).unwrap(), len).unwrap();
        let gz_file = File::open(&gz).unwrap();
        assert!(is_gzip(&gz_file).unwrap() && !is_gzip(&File::open(&plain).unwrap()).unwrap());
        let (got, head) = gz_fingerprint(&gz_file, len).unwrap().unwrap();
        assert_eq!(got, want);
        assert!(head_matches(&head, &want));
        let (part, _) = gz_fingerprint(&gz_file, 100).unwrap().unwrap();
        assert_eq!(part, fingerprint(&File::open(&plain).unwrap(), 100).unwrap());
        assert_eq!(gz_fingerprint(&gz_file, len + 1).unwrap(), None);
    }

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
