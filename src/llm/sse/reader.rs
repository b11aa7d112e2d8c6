use std::fmt;
use std::time::Duration;

/// One event of a `text/event-stream`, as dispatched by [`EventReader`].
///
/// Text is decoded as UTF-8 with invalid sequences replaced by U+FFFD, as
/// the WHATWG specification says a client must.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    event_type: Option<String>,
    data: String,
    id: Option<String>,
    retry: Option<Duration>,
}

impl Event {
    /// The event type: the last `event:` field of the block, or `"message"`
    /// when there was none (or it was empty).
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// The data: the block's `data:` fields joined with `\n` (without a
    /// trailing `\n`).
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The data, taken out of the event.
    pub fn into_data(self) -> String {
        self.data
    }

    /// The stream's last event ID when the event was dispatched (set by
    /// this or an earlier block's `id:` field; `Some("")` once reset by an
    /// empty one), or `None` if no block set one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The reconnection time set by a `retry:` field in this event's block
    /// (milliseconds, digits only), if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }
}

/// An event block grew beyond the reader's bound: [`EventReader::next_event`]
/// returns it once and skips the rest of the block (up to the next blank
/// line) without buffering it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTooLarge {
    max: usize,
}

impl EventTooLarge {
    /// The bound that was exceeded, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server-sent event larger than {} bytes", self.max)
    }
}

impl std::error::Error for EventTooLarge {}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the reader is in its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// At the start of a line (nothing of it read yet).
    Start,
    /// In a field line, partly buffered in `line`.
    Field,
    /// In a comment line (not buffered).
    Comment,
    /// Skipping the rest of an oversized block: in a line that is not blank.
    Skipping,
    /// Skipping the rest of an oversized block, at the start of a line.
    SkippingStart,
}

/// An incremental parser of `text/event-stream` (server-sent events), as
/// the WHATWG HTML specification defines it.
///
/// Feed it the bytes of a stream in chunks split anywhere (in the middle of
/// a line, of a CRLF, of a UTF-8 sequence or of the leading byte-order
/// mark); it dispatches the same [`Event`]s whatever the chunking:
///
/// - a leading UTF-8 BOM is skipped; lines end with CR, LF or CRLF;
/// - a blank line dispatches the block's event, if it had any `data`
///   (a block without `data` only resets the event type);
/// - lines starting with `:` are comments (keep-alives such as
///   OpenRouter's `: OPENROUTER PROCESSING`) and are ignored without being
///   buffered;
/// - `field:value` with one optional space after the colon; a line without
///   a colon is a field with an empty value; unknown fields are ignored;
///   `id` values containing NUL are ignored; `retry` is kept only if it is
///   all ASCII digits;
/// - text is decoded as UTF-8 lossily (U+FFFD for invalid sequences), when
///   an event is dispatched;
/// - bytes after the last blank line (an incomplete block) are never
///   dispatched: at the end of the stream they are simply dropped.
///
/// **Bounded**: the bytes of the block being read (its field lines, not its
/// comments) may not exceed `max_event_bytes`. A block that grows beyond
/// that makes [`next_event`](Self::next_event) return [`EventTooLarge`]
/// once; the rest of that block is skipped, unbuffered, and reading resumes
/// at the next block. So the reader never holds more than
/// `max_event_bytes` (see [`buffered`](Self::buffered)), whatever the
/// input.
///
/// # Examples
///
/// ```
/// use tower_failover::llm::sse::EventReader;
///
/// let mut reader = EventReader::new(64 * 1024);
/// let mut events = Vec::new();
/// for chunk in [&b": keep-alive\r\nevent: delta\r\nda"[..], b"ta: {\"x\":1}\r", b"\n\r\n"] {
///     let mut input = chunk;
///     while let Some(event) = reader.next_event(&mut input).unwrap() {
///         events.push(event);
///     }
/// }
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event_type(), "delta");
/// assert_eq!(events[0].data(), "{\"x\":1}");
/// ```
#[derive(Clone)]
pub struct EventReader {
    max: usize,
    // The partial field line, when a line is split across chunks.
    line: Vec<u8>,
    data: Vec<u8>,
    event_type: Vec<u8>,
    last_id: Option<String>,
    retry: Option<Duration>,
    block_retry: Option<Duration>,
    // Bytes of the field lines of the current block.
    pending: usize,
    state: Line,
    // The previous byte was a CR: an LF next is part of the same line end.
    after_cr: bool,
    // How many bytes of the BOM have been matched; `None` once past it.
    bom: Option<u8>,
}

impl fmt::Debug for EventReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReader")
            .field("max", &self.max)
            .field("buffered", &self.buffered())
            .field("last_id", &self.last_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EventReader {
    /// A reader that refuses event blocks larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max: max_event_bytes,
            line: Vec::new(),
            data: Vec::new(),
            event_type: Vec::new(),
            last_id: None,
            retry: None,
            block_retry: None,
            pending: 0,
            state: Line::Start,
            after_cr: false,
            bom: Some(0),
        }
    }

    /// The bound on one event block, in bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max
    }

    /// How many bytes the reader holds for the block being read: never more
    /// than [`max_event_bytes`](Self::max_event_bytes).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len() + self.event_type.len()
    }

    /// The stream's last event ID (see [`Event::id`]).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection time the stream last set with a `retry:` field.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Reads from the front of `input`, advancing it, until an event is
    /// dispatched (`Ok(Some(event))`, with `input` just past the blank line
    /// that ended it) or `input` is used up (`Ok(None)`). Call it again
    /// while `input` is not empty: a chunk may hold many events.
    ///
    /// # Errors
    ///
    /// [`EventTooLarge`] when the current block grows beyond the bound;
    /// `input` is advanced past the byte that crossed it, and the next call
    /// skips the rest of the block.
    pub fn next_event(&mut self, input: &mut &[u8]) -> Result<Option<Event>, EventTooLarge> {
        if self.bom.is_some() {
            self.skip_bom(input)?;
        }
        while !input.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if input[0] == b'\n' {
                    *input = &input[1..];
                    continue;
                }
            }
            let end = input.iter().position(|&b| b == b'\n' || b == b'\r');
            let (segment, terminated) = match end {
                Some(end) => (&input[..end], Some(input[end])),
                None => (*input, None),
            };
            let consumed = segment.len() + usize::from(terminated.is_some());
            let rest = &input[consumed..];
            if terminated == Some(b'\r') {
                self.after_cr = true;
            }
            let result = self.segment(segment, terminated.is_some());
            *input = rest;
            match result {
                Ok(None) => {}
                other => return other,
            }
        }
        Ok(None)
    }

    /// Skips a leading BOM, possibly split across chunks. A partial match
    /// that turns out not to be a BOM is read as ordinary bytes (they start
    /// a field line: they are neither CR, LF nor `:`).
    fn skip_bom(&mut self, input: &mut &[u8]) -> Result<(), EventTooLarge> {
        while let Some(matched) = self.bom {
            let Some(&byte) = input.first() else {
                return Ok(());
            };
            if byte == BOM[usize::from(matched)] {
                *input = &input[1..];
                self.bom = (matched < 2).then_some(matched + 1);
            } else {
                self.bom = None;
                if matched > 0 {
                    self.segment(&BOM[..usize::from(matched)], false)?;
                }
            }
        }
        Ok(())
    }

    /// Handles one piece of a line (without its line end); `ends` if the
    /// line ends after it.
    fn segment(&mut self, segment: &[u8], ends: bool) -> Result<Option<Event>, EventTooLarge> {
        if self.state == Line::Start && !segment.is_empty() {
            self.state = if segment[0] == b':' {
                Line::Comment
            } else {
                Line::Field
            };
        }
        if self.state == Line::SkippingStart && !segment.is_empty() {
            self.state = Line::Skipping;
        }
        match self.state {
            Line::Start => {
                // A blank line.
                debug_assert!(ends && segment.is_empty());
                Ok(self.dispatch())
            }
            Line::Comment | Line::Skipping => {
                if ends {
                    self.state = if self.state == Line::Comment {
                        Line::Start
                    } else {
                        Line::SkippingStart
                    };
                }
                Ok(None)
            }
            Line::SkippingStart => {
                // A blank line ends the oversized block.
                debug_assert!(ends && segment.is_empty());
                self.state = Line::Start;
                Ok(None)
            }
            Line::Field => {
                let total = self
                    .pending
                    .saturating_add(self.line.len())
                    .saturating_add(segment.len());
                if total > self.max {
                    return Err(self.too_large(ends));
                }
                if !ends {
                    self.line.extend_from_slice(segment);
                    return Ok(None);
                }
                self.state = Line::Start;
                if self.line.is_empty() {
                    self.pending += segment.len();
                    self.field(segment);
                } else {
                    self.line.extend_from_slice(segment);
                    let line = std::mem::take(&mut self.line);
                    self.pending += line.len();
                    self.field(&line);
                    // Keep the allocation for the next split line.
                    self.line = line;
                    self.line.clear();
                }
                Ok(None)
            }
        }
    }

    fn too_large(&mut self, ends: bool) -> EventTooLarge {
        self.reset_block();
        self.line.clear();
        self.state = if ends {
            Line::SkippingStart
        } else {
            Line::Skipping
        };
        EventTooLarge { max: self.max }
    }

    fn reset_block(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.block_retry = None;
        self.pending = 0;
    }

    /// Processes one complete field line.
    fn field(&mut self, line: &[u8]) {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Saturates rather than overflowing on absurd values.
                let millis = value.iter().fold(0u64, |n, &d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                let retry = Duration::from_millis(millis);
                self.retry = Some(retry);
                self.block_retry = Some(retry);
            }
            _ => {}
        }
    }

    /// A blank line: dispatches the block's event if it has data.
    fn dispatch(&mut self) -> Option<Event> {
        if self.data.is_empty() {
            self.reset_block();
            return None;
        }
        self.data.pop(); // the trailing LF
        let event_type = (!self.event_type.is_empty())
            .then(|| String::from_utf8_lossy(&self.event_type).into_owned());
        let data = match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(data) => data,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        };
        let event = Event {
            event_type,
            data,
            id: self.last_id.clone(),
            retry: self.block_retry,
        };
        self.reset_block();
        Some(event)
    }
}

/// Finds the ends of event blocks (blank lines) in a stream of bytes with
/// O(1) state: LF, CRLF and CR line ends, split anywhere.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockScanner {
    at_line_start: bool,
    after_cr: bool,
}

impl BlockScanner {
    pub(super) const fn new() -> Self {
        Self {
            at_line_start: true,
            after_cr: false,
        }
    }

    /// Scans `bytes`; whether a block ended (a blank line) in them.
    pub(super) fn scan(&mut self, mut bytes: &[u8]) -> bool {
        let mut ended = false;
        while let Some(&first) = bytes.first() {
            if self.after_cr {
                self.after_cr = false;
                if first == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(0) => {
                    ended |= self.at_line_start;
                    self.at_line_start = true;
                    self.after_cr = first == b'\r';
                    bytes = &bytes[1..];
                }
                Some(end) => {
                    self.at_line_start = false;
                    bytes = &bytes[end..];
                }
                None => {
                    self.at_line_start = false;
                    return ended;
                }
            }
        }
        ended
    }
}
