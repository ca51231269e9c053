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

/// A stored record read again from its file, for people who want its bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordAt {
    /// The record's bytes (without its newline), at most the limit; `truncated` when longer.
    Found { bytes: Vec<u8>, truncated: bool },
    /// The file no longer holds what was read (gone, shorter, or other content).
    Gone(&'static str),
}

/// The record at byte `offset` of the file at `path` — decompressed when it is gzip — when
/// the file still holds what was read: its fingerprint up to the stored `position` must equal
/// the stored `identity`. Reads at most `max` bytes of the record.
pub fn record_at(
    path: &std::path::Path,
    offset: u64,
    position: u64,
    identity: Option<&str>,
    max: usize,
) -> io::Result<RecordAt> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(RecordAt::Gone("the file is gone"))
        }
        Err(e) => return Err(e),
    };
    if offset >= position {
        return Ok(RecordAt::Gone("the offset is past what was read"));
    }
    let (mut reader, gz) = open_maybe_gz(file.try_clone()?)?;
    if gz {
        // Decompressed offsets: skip to the record, keeping the fingerprint of what passed.
        let mut tracking = Tracking::new(&mut reader);
        io::copy(&mut (&mut tracking).take(offset), &mut io::sink())?;
        // Never past the stored position: the fingerprint is taken there.
        let bytes = read_line(&mut (&mut tracking).take(position - offset), max)?;
        let rest = position.saturating_sub(tracking.total());
        io::copy(&mut (&mut tracking).take(rest), &mut io::sink())?;
        if tracking.total() < position {
            return Ok(RecordAt::Gone("the file is shorter than what was read"));
        }
        if identity.is_some_and(|id| id != tracking.fingerprint()) {
            return Ok(RecordAt::Gone("the file holds other content now"));
        }
        return Ok(found(bytes, max));
    }
    let len = file.metadata()?.len();
    if len < position {
        return Ok(RecordAt::Gone("the file is shorter than what was read"));
    }
    if identity.is_some_and(|id| id != fingerprint(&file, position).unwrap_or_default()) {
        return Ok(RecordAt::Gone("the file holds other content now"));
    }
    let mut reader = file;
    reader.seek(SeekFrom::Start(offset))?;
    Ok(found(read_line(&mut reader, max)?, max))
}

/// Up to `max + 1` bytes of the line at the reader's position, without its newline.
fn read_line(reader: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while out.len() <= max {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(end) = memchr::memchr(b'\n', &buf[..n]) {
            out.extend_from_slice(&buf[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

fn found(mut bytes: Vec<u8>, max: usize) -> RecordAt {
    let truncated = bytes.len() > max;
    bytes.truncate(max);
    if bytes.last() == Some(&b'\r') && !truncated {
        bytes.pop();
    }
    RecordAt::Found { bytes, truncated }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_is_read_again_while_its_file_holds_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"first\nsecond line\r\nthird\n").unwrap();
        let file = File::open(&path).unwrap();
        let id = fingerprint(&file, 25).unwrap();
        let at = |offset| record_at(&path, offset, 25, Some(&id), 1 << 20).unwrap();
        assert_eq!(at(6), RecordAt::Found { bytes: b"second line".to_vec(), truncated: false });
        assert_eq!(at(0), RecordAt::Found { bytes: b"first".to_vec(), truncated: false });
        assert_eq!(at(25), RecordAt::Gone("the offset is past what was read"));
        let short = record_at(&path, 6, 25, Some(&id), 3).unwrap();
        assert_eq!(short, RecordAt::Found { bytes: b"sec".to_vec(), truncated: true });
        // gzip: the same record at the same (decompressed) offset.
        let gz = dir.path().join("a.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"first\nsecond line\r\nthird\n").unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let found = record_at(&gz, 6, 25, Some(&id), 1 << 20).unwrap();
        assert_eq!(found, RecordAt::Found { bytes: b"second line".to_vec(), truncated: false });
        // Other content, or gone: said so, never other bytes.
        std::fs::write(&path, b"FIRST\nsecond line\r\nthird\n").unwrap();
        assert_eq!(at(6), RecordAt::Gone("the file holds other content now"));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(at(6), RecordAt::Gone("the file is gone"));
    }

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
