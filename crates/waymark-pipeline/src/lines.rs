//! Framing: a byte stream into lines, each with the offset of its first byte.
//!
//! Reads large blocks and splits them with `memchr`. A line longer than the limit (not counting
//! a `\r` before its `\n`, which the processor strips) is never held whole: its head is kept for the dead letter and the rest skipped up to the newline.
//! A last line without a newline is returned as [`Frame::Tail`] so the caller can decide
//! whether it is complete (stdin at its end) or still being written (a file).

use std::io::{self, Read};

/// What the reader found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n`.
    Line { offset: u64, bytes: &'a [u8] },
    /// A line over the limit: its first bytes and its full length (without the `\n`);
    /// `terminated` is false when the input ended inside it.
    Oversized { offset: u64, head: Vec<u8>, len: u64, terminated: bool },
    /// Bytes after the last newline at the end of the input.
    Tail { offset: u64, bytes: &'a [u8] },
}

const BLOCK: usize = 256 * 1024;

/// A line framer over any reader.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Input offset of `buf[start]`.
    offset: u64,
    max: usize,
    head_keep: usize,
    eof: bool,
    /// An oversized line being skipped: (offset, head, length so far).
    skipping: Option<(u64, Vec<u8>, u64)>,
}

impl<R: Read> LineReader<R> {
    /// `offset`: where `inner` starts in the input; `max`: the longest line kept whole;
    /// `head_keep`: how much of an oversized line is kept.
    pub fn new(inner: R, offset: u64, max: usize, head_keep: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: vec![0; BLOCK.min(max.saturating_add(1)).max(4096)],
            start: 0,
            end: 0,
            offset,
            max,
            head_keep,
            eof: false,
            skipping: None,
        }
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The input offset just after the last frame returned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some((_, head, len)) = self.skipping.as_mut() {
                let newline = memchr::memchr(b'\n', pending);
                // The head is the line's first `head_keep` bytes whatever the reads' sizes
                // (the line went over the limit with fewer in hand when `max < head_keep`).
                let room = self.head_keep.saturating_sub(head.len());
                head.extend_from_slice(&pending[..room.min(newline.unwrap_or(pending.len()))]);
                match newline {
                    Some(i) => {
                        *len += i as u64;
                        let (offset, head, len) = self.skipping.take().unwrap_or_default();
                        self.start += i + 1;
                        self.offset = offset + len + 1;
                        return Ok(Some(Frame::Oversized { offset, head, len, terminated: true }));
                    }
                    None => {
                        *len += pending.len() as u64;
                        self.start = self.end;
                    }
                }
            } else if let Some(i) = memchr::memchr(b'\n', pending) {
                let offset = self.offset;
                let (s, e) = (self.start, self.start + i);
                self.start = e + 1;
                self.offset += i as u64 + 1;
                if over(&self.buf[s..e], self.max) {
                    let head = self.buf[s..s + self.head_keep.min(i)].to_vec();
                    return Ok(Some(Frame::Oversized {
                        offset,
                        head,
                        len: i as u64,
                        terminated: true,
                    }));
                }
                return Ok(Some(Frame::Line { offset, bytes: &self.buf[s..e] }));
            } else if over(pending, self.max) {
                let head = pending[..self.head_keep.min(pending.len())].to_vec();
                self.skipping = Some((self.offset, head, pending.len() as u64));
                self.start = self.end;
            }
            if self.eof {
                return Ok(self.finish());
            }
            self.fill()?;
        }
    }

    fn finish(&mut self) -> Option<Frame<'_>> {
        if let Some((offset, head, len)) = self.skipping.take() {
            // An oversized unterminated tail: the caller treats it like any tail.
            self.offset = offset + len;
            return Some(Frame::Oversized { offset, head, len, terminated: false });
        }
        if self.start == self.end {
            return None;
        }
        let (s, e) = (self.start, self.end);
        let offset = self.offset;
        self.start = e;
        self.offset += (e - s) as u64;
        Some(Frame::Tail { offset, bytes: &self.buf[s..e] })
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            if self.skipping.is_none() {
                // `offset` already points at buf[start]; nothing to adjust.
            }
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown =
                (self.buf.len() * 2).min(self.max.saturating_add(2)).max(self.buf.len() + 1);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether `line` (a line without its `\n`, or the start of one) is over `max`. A `\r` at its
/// end is not counted: before the `\n` it belongs to the terminator (the processor strips it
/// and holds the rest to the same limit), so a CRLF line is held to the same limit as an LF one.
fn over(line: &[u8], max: usize) -> bool {
    line.len() > max && !(line.len() - 1 == max && line.last() == Some(&b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Vec<String> {
        // A reader that returns a few bytes at a time, to cross block boundaries.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(3).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = LineReader::new(Slow(input), 100, max, 2);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push(match f {
                Frame::Line { offset, bytes } => {
                    format!("L{offset}:{}", String::from_utf8_lossy(bytes))
                }
                Frame::Oversized { offset, head, len, terminated } => {
                    format!(
                        "O{offset}:{}:{len}{}",
                        String::from_utf8_lossy(&head),
                        if terminated { "" } else { "!" }
                    )
                }
                Frame::Tail { offset, bytes } => {
                    format!("T{offset}:{}", String::from_utf8_lossy(bytes))
                }
            });
        }
        out.push(format!("end{}", r.offset()));
        out
    }

    #[test]
    fn lines_offsets_and_tail() {
        assert_eq!(
            frames(b"ab\n\ncd\nef", 10),
            ["L100:ab", "L103:", "L104:cd", "T107:ef", "end109"]
        );
        assert_eq!(frames(b"ab\n", 10), ["L100:ab", "end103"]);
        assert_eq!(frames(b"", 10), ["end100"]);
    }

    #[test]
    fn oversized_lines_are_skipped_not_buffered() {
        let mut input = b"ok\n".to_vec();
        input.extend(vec![b'x'; 10_000]);
        input.extend(b"\nnext\n");
        assert_eq!(frames(&input, 8), ["L100:ok", "O103:xx:10000", "L10104:next", "end10109"]);
        assert_eq!(frames(b"123456789", 8), ["O100:12:9!", "end109"]);
        assert_eq!(frames(b"12345678\n", 8), ["L100:12345678", "end109"]);
    }

    /// Found by the `lines` fuzz target (issue 16): with a limit below `head_keep`, the head of
    /// an oversized line was what the buffer held when the line went over the limit, so it
    /// depended on the sizes of the reads; it is now the line's first `head_keep` bytes.
    #[test]
    fn fuzz_regression_oversized_head_does_not_depend_on_read_sizes() {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for input in [&b"Compiling code\nok\n"[..], b"Compiling code"] {
            for chunk in [1, 3, 7, 4096] {
                let mut r = LineReader::new(Chunks(input, chunk), 0, 4, 10);
                match r.next_frame().unwrap() {
                    Some(Frame::Oversized { head, len: 14, .. }) => {
                        assert_eq!(head, b"Compiling ", "reads of {chunk} bytes")
                    }
                    other => panic!("reads of {chunk} bytes: {other:?}"),
                }
            }
        }
    }

    /// Found while writing the `lines` fuzz target's reference (issue 16): a CRLF line whose
    /// record (without `\r\n`) is exactly the limit was cut as oversized, where the same line
    /// with LF was kept.
    #[test]
    fn fuzz_regression_crlf_line_at_the_limit_is_kept() {
        assert_eq!(frames(b"12345678\r\nx\n", 8), ["L100:12345678\r", "L110:x", "end112"]);
        assert_eq!(frames(b"12345678\r", 8), ["T100:12345678\r", "end109"]);
        assert_eq!(frames(b"123456789\r\n", 8), ["O100:12:10", "end111"]);
        assert_eq!(frames(b"12345678\r\r\n", 8), ["O100:12:10", "end111"]);
        // Across the 4 KiB block floor, read a few bytes at a time.
        let mut long = vec![b'y'; 5000];
        long.extend(b"\r\n");
        assert_eq!(frames(&long, 5000).len(), 2, "{:?}", &frames(&long, 5000)[1..]);
        assert!(frames(&long, 4999)[0].starts_with("O100:yy:5001"));
    }
}
