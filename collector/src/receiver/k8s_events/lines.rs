//! The lines of a watch response, read as they arrive, each at most a bounded length, with a way
//! to tell whether another one is already waiting (so lines arriving together ship together).

use futures_util::{AsyncBufRead, AsyncBufReadExt, FutureExt};

/// The longest watch line kept: an Event object is at most about 1.5 MB (etcd's request limit),
/// so anything longer is not one and is skipped rather than held in memory.
pub const MAX_LINE: usize = 4 << 20;

/// One line read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without its newline.
    Text(&'a [u8]),
    /// A line longer than the bound, skipped; its length.
    TooLong(usize),
}

/// Reads lines from a response body. Not cancel-safe: if a read is dropped part-way (a timeout),
/// drop the reader too.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    line: Vec<u8>,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// Lines of `reader`, each at most `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        Lines {
            reader,
            line: Vec::new(),
            max,
        }
    }

    /// The next line; `None` at the end of the body. A last line without a newline is returned
    /// as is (if the body was cut short, it will not parse).
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut length = 0;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if length == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            length += chunk.len();
            if length <= self.max {
                self.line.extend_from_slice(chunk);
            } else {
                // Too long: stop keeping it, keep reading to its end.
                self.line = Vec::new();
            }
            self.reader.consume_unpin(used);
            if done {
                break;
            }
        }
        Ok(Some(if length > self.max {
            Line::TooLong(length)
        } else {
            Line::Text(&self.line)
        }))
    }

    /// Whether a whole line (or the body's end, or an error) can be read without waiting.
    pub fn line_waiting(&mut self) -> bool {
        match self.reader.fill_buf().now_or_never() {
            Some(Ok(available)) => available.is_empty() || available.contains(&b'\n'),
            Some(Err(_)) => true,
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn all(body: &[u8], max: usize) -> Vec<Result<String, usize>> {
        let mut lines = Lines::new(body, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push(match line {
                Line::Text(t) => Ok(String::from_utf8(t.to_vec()).unwrap()),
                Line::TooLong(n) => Err(n),
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_skips_long_ones() {
        assert_eq!(
            all(b"{\"a\":1}\n\n{\"b\":2}\n", 100).await,
            [
                Ok("{\"a\":1}".into()),
                Ok(String::new()),
                Ok("{\"b\":2}".into())
            ]
        );
        assert_eq!(
            all(b"abc\n0123456789\nxyz", 5).await,
            [Ok("abc".into()), Err(10), Ok("xyz".into())]
        );
        assert!(all(b"", 5).await.is_empty());
    }

    #[tokio::test]
    async fn tells_whether_a_line_is_waiting() {
        let mut lines = Lines::new(&b"a\nb\n"[..], 10);
        assert!(lines.line_waiting());
        lines.next_line().await.unwrap();
        assert!(lines.line_waiting());
        lines.next_line().await.unwrap();
        // The end of the body can be read at once too.
        assert!(lines.line_waiting());
        assert_eq!(lines.next_line().await.unwrap(), None);
        let mut partial = Lines::new(&b"no newline yet"[..], 100);
        assert!(!partial.line_waiting());
    }
}
