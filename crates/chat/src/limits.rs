//! Token buckets, display names and message sanitizing.

use crate::protocol::{Reason, Refusal, MAX_TEXT_CHARS};

/// Shortest display name.
pub const MIN_NAME_CHARS: usize = 2;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 25;

/// A token bucket over wall-clock milliseconds: `capacity` tokens, refilled at
/// `capacity / period_ms`. A clock going backwards refills nothing.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled over `period_ms`.
    pub fn new(capacity: u32, period_ms: u64, now_ms: i64) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            capacity,
            per_ms: capacity / period_ms.max(1) as f64,
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: i64) {
        if now_ms > self.last_ms {
            let gained = (now_ms - self.last_ms) as f64 * self.per_ms;
            self.tokens = (self.tokens + gained).min(self.capacity);
            self.last_ms = now_ms;
        }
    }

    /// Takes one token, or says in how many ms one will be there.
    pub fn try_take(&mut self, now_ms: i64) -> Result<(), u64> {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / self.per_ms).ceil() as u64)
        }
    }

    /// Whether the bucket is full at `now_ms` (and so equal to a fresh one: safe to forget).
    pub fn is_full(&mut self, now_ms: i64) -> bool {
        self.refill(now_ms);
        self.tokens >= self.capacity
    }
}

/// Checks a display name: 2 to 25 of `A-Z a-z 0-9 _`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    let chars = name.chars().count();
    let ok = (MIN_NAME_CHARS..=MAX_NAME_CHARS).contains(&chars)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            Reason::InvalidName,
            format!(
                "names are {MIN_NAME_CHARS} to {MAX_NAME_CHARS} characters of A-Z, a-z, 0-9 and '_', starting with a letter or digit"
            ),
        ))
    }
}

/// Characters that only serve to disguise text: bidirectional overrides and zero-width marks.
fn is_disguise(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Sanitizes a message once, on the server: control and disguising characters go, whitespace runs
/// become one space, the ends are trimmed, the length is checked (in characters, at most
/// [`MAX_TEXT_CHARS`]) and `& < > " '` are HTML-escaped, so no markup reaches another client.
///
/// Returns the text to store and send.
pub fn sanitize_text(raw: &str) -> Result<String, Refusal> {
    let mut plain = String::with_capacity(raw.len().min(4 * MAX_TEXT_CHARS));
    let mut chars = 0usize;
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            pending_space = !plain.is_empty();
            continue;
        }
        if c.is_control() || is_disguise(c) {
            continue;
        }
        if pending_space {
            plain.push(' ');
            chars += 1;
            pending_space = false;
        }
        chars += 1;
        if chars > MAX_TEXT_CHARS {
            return Err(Refusal::new(
                Reason::TooLong,
                format!("messages are at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        plain.push(c);
    }
    if plain.is_empty() {
        return Err(Refusal::new(Reason::Empty, "nothing to send"));
    }
    let mut escaped = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    Ok(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_refills_over_the_period() {
        let mut b = TokenBucket::new(2, 1000, 0);
        assert!(b.try_take(0).is_ok());
        assert!(b.try_take(0).is_ok());
        assert_eq!(b.try_take(0), Err(500));
        assert!(b.try_take(499).is_err());
        assert!(b.try_take(500).is_ok());
        assert!(!b.is_full(500));
        assert!(b.is_full(5000));
        // A clock going back refills nothing and does not panic.
        assert!(b.try_take(-10).is_ok());
    }

    #[test]
    fn names() {
        assert!(validate_name("alice_01").is_ok());
        assert!(validate_name("a").is_err());
        assert!(validate_name("_alice").is_err());
        assert!(validate_name("al ice").is_err());
        assert!(validate_name("ålice").is_err());
        assert!(validate_name(&"x".repeat(26)).is_err());
    }

    #[test]
    fn sanitizing_escapes_markup_and_strips_disguises() {
        assert_eq!(
            sanitize_text("  <b>hi</b> & 'you'\n\n\tthere ").unwrap(),
            "&lt;b&gt;hi&lt;/b&gt; &amp; &#39;you&#39; there"
        );
        assert_eq!(sanitize_text("a\u{202E}b\u{0007}c").unwrap(), "abc");
        assert_eq!(
            sanitize_text(" \n\u{200B} ").unwrap_err().reason,
            Reason::Empty
        );
        assert!(sanitize_text(&"é".repeat(500)).is_ok());
        assert_eq!(
            sanitize_text(&"é".repeat(501)).unwrap_err().reason,
            Reason::TooLong
        );
    }

    proptest! {
        #[test]
        fn sanitized_text_has_no_markup(s in ".{0,600}") {
            if let Ok(text) = sanitize_text(&s) {
                prop_assert!(!text.contains('<') && !text.contains('>') && !text.contains('"'));
                prop_assert!(!text.chars().any(|c| c.is_control()));
            }
        }
    }
}
