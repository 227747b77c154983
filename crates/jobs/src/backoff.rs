//! Retry back-off: exponential, capped, with jitter supplied by the caller.

/// Exponential back-off settings.
///
/// The delay before retry number `attempt` (the attempt that just failed, from 1) is
/// `min(base_ms × 2^(attempt−1), cap_ms) × (0.5 + jitter)`, with `jitter` in `[0, 1]`: so it
/// lies between half and one and a half times the capped exponential. The caller supplies the
/// jitter (a random number in production, a constant in tests), which keeps the queue
/// deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt, before jitter.
    pub base_ms: i64,
    /// Largest delay before jitter.
    pub cap_ms: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            cap_ms: 600_000,
        }
    }
}

impl Backoff {
    /// The delay in ms after failed attempt number `attempt` (1 = the first) with `jitter` in
    /// `[0, 1]`; out-of-range or NaN jitter is clamped (NaN counts as 0.5, no jitter).
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> i64 {
        let base = self.base_ms.max(0);
        let cap = self.cap_ms.max(0);
        // 2^62 already overflows any useful base, so the shift saturates instead of wrapping.
        let shift = attempt.saturating_sub(1).min(62);
        let exp = base
            .checked_mul(1_i64 << shift)
            .unwrap_or(i64::MAX)
            .min(cap);
        let jitter = if jitter.is_nan() {
            0.5
        } else {
            jitter.clamp(0.0, 1.0)
        };
        // f64 holds every capped delay of practical size exactly enough; `as` saturates.
        (exp as f64 * (0.5 + jitter)).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps_with_jitter() {
        let b = Backoff {
            base_ms: 2_000,
            cap_ms: 600_000,
        };
        assert_eq!(b.delay_ms(1, 0.5), 2_000);
        assert_eq!(b.delay_ms(2, 0.5), 4_000);
        assert_eq!(b.delay_ms(3, 0.5), 8_000);
        assert_eq!(b.delay_ms(1, 0.0), 1_000);
        assert_eq!(b.delay_ms(1, 1.0), 3_000);
        assert_eq!(b.delay_ms(20, 0.5), 600_000);
        assert_eq!(b.delay_ms(u32::MAX, 1.0), 900_000);
        assert_eq!(b.delay_ms(0, 0.5), 2_000);
        assert_eq!(b.delay_ms(1, f64::NAN), 2_000);
        assert_eq!(b.delay_ms(1, 7.0), 3_000);
    }
}
