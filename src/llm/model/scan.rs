//! A single-pass, non-recursive JSON scanner that finds the top-level
//! `model` members of an object without building anything.

use std::borrow::Cow;
use std::ops::Range;

use super::SetModelError;

/// What [`scan`] found in a JSON object.
#[derive(Debug)]
pub(super) struct Scan {
    /// The offset just after the object's `{`.
    pub(super) open: usize,
    /// Whether the object has no member at all.
    pub(super) empty: bool,
    /// The byte ranges of the values of every top-level `model` member, in
    /// order.
    pub(super) models: Vec<Range<usize>>,
}

/// Scans `json`, which must be one JSON object (whitespace around it
/// allowed), and finds its top-level `model` members. Linear time, memory
/// of one bit per level of nesting, no recursion.
pub(super) fn scan(json: &[u8]) -> Result<Scan, SetModelError> {
    let mut scanner = Scanner { json, at: 0 };
    scanner.skip_whitespace();
    match scanner.peek()? {
        b'{' => {}
        b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            return Err(SetModelError::not_object());
        }
        _ => return Err(scanner.malformed()),
    }
    scanner.at += 1;
    let open = scanner.at;
    let mut models = Vec::new();
    scanner.skip_whitespace();
    let empty = scanner.peek()? == b'}';
    if empty {
        scanner.at += 1;
    } else {
        loop {
            let key = scanner.key()?;
            let start = scanner.at;
            scanner.value()?;
            if is_model_key(&json[key]) {
                models.push(start..scanner.at);
            }
            scanner.skip_whitespace();
            match scanner.peek()? {
                b',' => {
                    scanner.at += 1;
                    scanner.skip_whitespace();
                }
                b'}' => {
                    scanner.at += 1;
                    break;
                }
                _ => return Err(scanner.malformed()),
            }
        }
    }
    scanner.skip_whitespace();
    if scanner.at != json.len() {
        return Err(scanner.malformed());
    }
    Ok(Scan {
        open,
        empty,
        models,
    })
}

struct Scanner<'a> {
    json: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Result<u8, SetModelError> {
        self.json
            .get(self.at)
            .copied()
            .ok_or_else(SetModelError::truncated)
    }

    fn malformed(&self) -> SetModelError {
        SetModelError::malformed(self.at)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.json.get(self.at) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), SetModelError> {
        if self.peek()? != byte {
            return Err(self.malformed());
        }
        self.at += 1;
        Ok(())
    }

    /// A member's key and its colon, with the whitespace around them: the
    /// range of the key's raw text between its quotes.
    fn key(&mut self) -> Result<Range<usize>, SetModelError> {
        let key = self.string()?;
        self.skip_whitespace();
        self.expect(b':')?;
        self.skip_whitespace();
        Ok(key)
    }

    /// A string starting at the cursor: the range of its raw text between
    /// the quotes.
    fn string(&mut self) -> Result<Range<usize>, SetModelError> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            let rest = &self.json[self.at..];
            let Some(stop) = rest
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
            else {
                self.at = self.json.len();
                return Err(SetModelError::truncated());
            };
            self.at += stop;
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Ok(start..self.at - 1);
                }
                b'\\' => {
                    self.at += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            self.at += 1;
                            for _ in 0..4 {
                                if !self.peek()?.is_ascii_hexdigit() {
                                    return Err(self.malformed());
                                }
                                self.at += 1;
                            }
                        }
                        _ => return Err(self.malformed()),
                    }
                }
                _ => return Err(self.malformed()),
            }
        }
    }

    fn digits(&mut self) -> Result<(), SetModelError> {
        if !self.peek()?.is_ascii_digit() {
            return Err(self.malformed());
        }
        while self.json.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), SetModelError> {
        if self.peek()? == b'-' {
            self.at += 1;
        }
        if self.peek()? == b'0' {
            self.at += 1;
        } else {
            self.digits()?;
        }
        if self.json.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.json.get(self.at) {
            self.at += 1;
            if let b'+' | b'-' = self.peek()? {
                self.at += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    fn literal(&mut self, literal: &[u8]) -> Result<(), SetModelError> {
        for &byte in literal {
            if self.peek()? != byte {
                return Err(self.malformed());
            }
            self.at += 1;
        }
        Ok(())
    }

    /// One value of any type starting at the cursor, nested arrays and
    /// objects included. The nesting is kept in a bit stack (one bit per
    /// level: object or array), not on the call stack.
    fn value(&mut self) -> Result<(), SetModelError> {
        let mut nesting = BitStack::default();
        loop {
            // A value starts here.
            match self.peek()? {
                b'{' => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek()? == b'}' {
                        self.at += 1;
                    } else {
                        nesting.push(OBJECT);
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek()? == b']' {
                        self.at += 1;
                    } else {
                        nesting.push(ARRAY);
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return Err(self.malformed()),
            }
            // A value ended here: close the containers it ends, or move to
            // the next element.
            loop {
                let Some(container) = nesting.top() else {
                    return Ok(());
                };
                self.skip_whitespace();
                match (self.peek()?, container) {
                    (b',', _) => {
                        self.at += 1;
                        self.skip_whitespace();
                        if container == OBJECT {
                            self.key()?;
                        }
                        break;
                    }
                    (b'}', OBJECT) | (b']', ARRAY) => {
                        self.at += 1;
                        nesting.pop();
                    }
                    _ => return Err(self.malformed()),
                }
            }
        }
    }
}

const OBJECT: bool = true;
const ARRAY: bool = false;

/// A stack of bits: 100 000 levels of nesting take 12.5 kB.
#[derive(Default)]
struct BitStack {
    words: Vec<u64>,
    len: usize,
}

impl BitStack {
    fn push(&mut self, bit: bool) {
        let (word, shift) = (self.len / 64, self.len % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        let mask = 1u64 << shift;
        if bit {
            self.words[word] |= mask;
        } else {
            self.words[word] &= !mask;
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    fn top(&self) -> Option<bool> {
        let last = self.len.checked_sub(1)?;
        Some(self.words[last / 64] & (1u64 << (last % 64)) != 0)
    }
}

/// Whether a key's raw text (between its quotes) means `model`, escapes
/// decoded: `"mod\u0065l"` is `model` to every JSON parser, so it is here.
fn is_model_key(raw: &[u8]) -> bool {
    if raw == b"model" {
        return true;
    }
    // Five ASCII characters take at most six bytes each when escaped.
    raw.len() <= 30 && raw.contains(&b'\\') && unescape(raw).as_deref() == Some("model")
}

/// The text of a JSON string from its raw bytes between the quotes (as
/// checked by the scanner): borrowed when it has no escape; `None` if it is
/// not UTF-8 or has a lone surrogate escape.
pub(super) fn unescape(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(backslash) = rest.iter().position(|&byte| byte == b'\\') {
        text.push_str(std::str::from_utf8(&rest[..backslash]).ok()?);
        let escape = rest.get(backslash + 1)?;
        rest = &rest[backslash + 2..];
        let decoded = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = hex4(rest)?;
                rest = &rest[4..];
                if (0xD800..0xDC00).contains(&high) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    let low = rest.strip_prefix(b"\\u").and_then(hex4)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    rest = &rest[6..];
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(high)?
                }
            }
            _ => return None,
        };
        text.push(decoded);
    }
    text.push_str(std::str::from_utf8(rest).ok()?);
    Some(Cow::Owned(text))
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    let digits = std::str::from_utf8(digits).ok()?;
    if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Appends `text` to `out` as a JSON string, quotes included: `"` and `\`
/// escaped, control characters as `\n`-style or `\u00XX` escapes, all else
/// (non-ASCII included) as it is.
pub(super) fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&text.as_bytes()[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&text.as_bytes()[start..]);
    out.push(b'"');
}

/// The length of `text` written by [`write_string`].
pub(super) fn string_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}
