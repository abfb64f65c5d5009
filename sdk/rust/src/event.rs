//! The event object `u_poll_handle` delivers, and a small bounded JSON reader for it.
//! Unknown keys are skipped (windowed queries add "window"; later hosts may add more).

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// µs since the Unix epoch.
    pub timestamp: i64,
    /// NaN when the aggregate matched no point (JSON null).
    pub value: f64,
    /// `"key=value"` strings.
    pub tags: Vec<String>,
    /// WebSocket connections that produced the data; targets for `writeback_ws`.
    pub producers: Vec<u64>,
    pub series: String,
}

impl Event {
    /// The value of tag `key`, `None` when the event has no such tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find_map(|tag| tag.strip_prefix(key)?.strip_prefix('='))
    }
}

const MAX_EVENT_BYTES: usize = 1 << 20;
const MAX_STRING_BYTES: usize = 1 << 16;
const MAX_ARRAY_ITEMS: usize = 4096;
const MAX_NUMBER_BYTES: usize = 64;
/// Nesting allowed inside values of unknown keys.
const MAX_SKIP_DEPTH: usize = 32;

/// Parses one event object; `None` when the bytes are not one.
pub fn parse_event(bytes: &[u8]) -> Option<Event> {
    if bytes.len() > MAX_EVENT_BYTES {
        return None;
    }
    let mut reader = Reader { bytes, pos: 0 };
    let mut event = Event { timestamp: 0, value: f64::NAN, tags: Vec::new(), producers: Vec::new(), series: String::new() };
    reader.expect(b'{')?;
    if reader.peek_after_space() == Some(b'}') {
        reader.pos += 1;
        return reader.at_end().then(|| event);
    }
    loop {
        let key = reader.string()?;
        reader.expect(b':')?;
        match key.as_str() {
            "timestamp" => event.timestamp = reader.integer()?,
            "value" => event.value = if reader.null() { f64::NAN } else { reader.number()? },
            "series" => event.series = reader.string()?,
            "tags" => event.tags = reader.array(|r| r.string())?,
            "producers" => event.producers = reader.array(|r| r.integer().map(|id| id as u64))?,
            _ => reader.skip_value(0)?,
        }
        match reader.next_byte()? {
            b',' => continue,
            // The object must be all there is (trailing spaces aside).
            b'}' => return reader.at_end().then(|| event),
            _ => return None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek_after_space(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    fn at_end(&mut self) -> bool {
        self.peek_after_space().is_none()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek_after_space()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next_byte()? == wanted).then(|| ())
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.peek_after_space().is_some() && self.bytes[self.pos..].starts_with(word);
        if found {
            self.pos += word.len();
        }
        found
    }

    fn null(&mut self) -> bool {
        self.literal(b"null")
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            if out.len() > MAX_STRING_BYTES {
                return None;
            }
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escape = *self.bytes.get(self.pos)?;
                    self.pos += 1;
                    let decoded = match escape {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'"' | b'\\' | b'/' => escape as char,
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut utf8).as_bytes());
                }
                _ => out.push(byte),
            }
        }
        Some(String::from_utf8(out).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        let text = core::str::from_utf8(digits).ok()?;
        u32::from_str_radix(text, 16).ok().filter(|_| text.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// After `\u`: one code point; a surrogate pair arrives as two escapes. Lone surrogates
    /// become U+FFFD.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) && self.bytes[self.pos..].starts_with(b"\\u") {
            let saved = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xdc00..0xe000).contains(&second) {
                return char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00));
            }
            self.pos = saved;
        }
        Some(char::from_u32(first).unwrap_or('\u{fffd}'))
    }

    fn number_text(&mut self) -> Option<&'a str> {
        self.peek_after_space()?;
        let start = self.pos;
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') || self.pos - start > MAX_NUMBER_BYTES {
                break;
            }
            self.pos += 1;
        }
        let length = self.pos - start;
        if length == 0 || length > MAX_NUMBER_BYTES {
            return None;
        }
        core::str::from_utf8(&self.bytes[start..self.pos]).ok()
    }

    fn number(&mut self) -> Option<f64> {
        self.number_text()?.parse().ok()
    }

    /// A JSON integer read exactly (µs timestamps and ids can exceed 2^53); fractions and
    /// exponents go through the float reader.
    fn integer(&mut self) -> Option<i64> {
        let text = self.number_text()?;
        if let Ok(value) = text.parse::<i64>() {
            return Some(value);
        }
        if let Ok(value) = text.parse::<u64>() {
            return Some(value as i64); // producer ids above i64::MAX keep their bits
        }
        let value: f64 = text.parse().ok()?;
        value.is_finite().then(|| value as i64)
    }

    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        if self.peek_after_space() == Some(b']') {
            self.pos += 1;
            return Some(items);
        }
        loop {
            if items.len() >= MAX_ARRAY_ITEMS {
                return None;
            }
            items.push(item(self)?);
            match self.next_byte()? {
                b',' => continue,
                b']' => return Some(items),
                _ => return None,
            }
        }
    }

    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_SKIP_DEPTH {
            return None;
        }
        match self.peek_after_space()? {
            b'"' => self.string().map(drop),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                if self.peek_after_space()? == close {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value(depth + 1)?;
                    match self.next_byte()? {
                        b',' => continue,
                        byte if byte == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => {
                if self.null() || self.literal(b"true") || self.literal(b"false") {
                    Some(())
                } else {
                    self.number().map(drop)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_event() {
        let event = parse_event(br#"{"timestamp":1700000000000000,"value":42.5,"tags":["host=a","region=eu"],"producers":[3],"series":"cpu"}"#).unwrap();
        assert_eq!(event.timestamp, 1_700_000_000_000_000);
        assert_eq!(event.value, 42.5);
        assert_eq!(event.tags, vec!["host=a", "region=eu"]);
        assert_eq!(event.producers, vec![3]);
        assert_eq!(event.series, "cpu");
        assert_eq!(event.tag("region"), Some("eu"));
        assert_eq!(event.tag("reg"), None);
    }

    #[test]
    fn skips_unknown_keys_and_reads_null_and_escapes() {
        let event = parse_event(br#" { "window" : {"start":1,"end":[2,{"x":null}]}, "value" : null, "tags":["k=a\"b\u00e9\ud83d\ude00\ud800"], "producers":[9007199254740995,18446744073709551615], "ok":true } "#).unwrap();
        assert!(event.value.is_nan());
        assert_eq!(event.tags, vec!["k=a\"bé😀\u{fffd}"]);
        assert_eq!(event.producers, vec![9_007_199_254_740_995, u64::MAX]);
    }

    #[test]
    fn rejects_broken_and_unbounded_input() {
        assert!(parse_event(b"").is_none());
        assert!(parse_event(br#"{"value":}"#).is_none());
        assert!(parse_event(br#"{"tags":["a"}"#).is_none());
        assert!(parse_event(br#"{"value":1"#).is_none());
        assert!(parse_event(br#"{"value":1}}"#).is_none());
        assert!(parse_event(br#"{} x"#).is_none());
        assert!(parse_event(b"{} \n").is_some());
        let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(parse_event(deep.as_bytes()).is_none());
    }
}
