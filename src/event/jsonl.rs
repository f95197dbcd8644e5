//! Reading JSONL input: one event per line, numbered from 1, blank lines skipped, each line
//! bounded in size before it is held in memory (a 10 GB line is refused after its first MiB),
//! invalid UTF-8 reported with its line.

use super::validate::{parse_line, MAX_LINE_BYTES};
use super::NewEvent;
use crate::error::{Error, Location};
use std::io::BufRead;

/// One line of input, parsed: its 1-based number and the event or the error.
pub type Line = (usize, Result<NewEvent, Error>);

/// Iterates the events of a JSONL stream.
pub struct JsonlReader<R> {
    input: R,
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reads the next raw line into `buf`; returns false at end of input. Lines longer than
    /// the limit are consumed but only their first bytes are kept (and flagged by length).
    fn next_raw(&mut self) -> std::io::Result<Option<bool>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(if any { Some(too_long) } else { None });
            }
            any = true;
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take > MAX_LINE_BYTES {
                too_long = true;
            } else {
                self.buf.extend_from_slice(&chunk[..take]);
            }
            self.input.consume(take + usize::from(end));
            if end {
                return Ok(Some(too_long));
            }
        }
    }
}

fn located(line: usize, event_id: Option<String>, field: &str, reason: String) -> Error {
    Error::Rejected {
        at: Location {
            line: Some(line),
            index: 0,
            event_id,
            field: field.to_string(),
        },
        reason,
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            if self.done {
                return None;
            }
            let too_long = match self.next_raw() {
                Ok(Some(t)) => t,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some((self.line, Err(Error::Io(format!("cannot read input: {e}")))));
                }
            };
            self.line += 1;
            let n = self.line;
            if too_long {
                return Some((
                    n,
                    Err(located(
                        n,
                        None,
                        "",
                        format!(
                    "line is longer than {MAX_LINE_BYTES} bytes; that is the limit for one event"
                ),
                    )),
                ));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t,
                Err(e) => {
                    return Some((
                        n,
                        Err(located(
                            n,
                            None,
                            "",
                            format!(
                                "not valid UTF-8 (at byte {} of the line)",
                                e.valid_up_to() + 1
                            ),
                        )),
                    ))
                }
            };
            // A CRLF line ending leaves '\r', which is JSON whitespace; blank lines are skipped.
            if text
                .trim_matches(|c| c == ' ' || c == '\t' || c == '\r')
                .is_empty()
            {
                continue;
            }
            return Some((
                n,
                parse_line(text).map_err(|(id, e)| located(n, id, &e.field, e.reason)),
            ));
        }
    }
}
