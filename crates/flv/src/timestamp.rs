//! Unwrapping RTMP's 32-bit millisecond timestamps onto a signed 64-bit timeline.

/// Maps wrapping `u32` millisecond timestamps to a continuous `i64` timeline.
///
/// Each timestamp is placed relative to the previous one by the *signed* distance of their `u32`
/// difference: a step of less than 2^31 ms (about 24.8 days) forwards is forwards, including across
/// the 2^32 wrap, and anything else is a step backwards (B-frame reordering, audio/video
/// interleaving, a publisher's clock correction). The first timestamp maps to itself, so streams
/// that never wrap keep their original values, and every output is congruent to its input
/// modulo 2^32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper {
    last: Option<(u32, i64)>,
}

impl TimestampUnwrapper {
    /// An unwrapper that has seen no timestamp yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Places `ts` on the unwrapped timeline.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let unwrapped = match self.last {
            None => i64::from(ts),
            // Reinterpreting the wrapping difference as i32 gives the signed distance.
            Some((raw, unwrapped)) => {
                unwrapped.saturating_add(i64::from(ts.wrapping_sub(raw) as i32))
            }
        };
        self.last = Some((ts, unwrapped));
        unwrapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_across_the_wrap() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 20), i64::from(u32::MAX) - 20);
        assert_eq!(u.unwrap(u32::MAX), i64::from(u32::MAX));
        assert_eq!(u.unwrap(12), (1i64 << 32) + 12);
        assert_eq!(u.unwrap(45), (1i64 << 32) + 45);
    }

    #[test]
    fn small_backward_steps_are_not_wraps() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(1000), 1000);
        assert_eq!(u.unwrap(967), 967);
        assert_eq!(u.unwrap(1033), 1033);
        // Backwards across the wrap, right after it.
        let mut u = TimestampUnwrapper::new();
        u.unwrap(u32::MAX - 5);
        assert_eq!(u.unwrap(3), (1i64 << 32) + 3);
        assert_eq!(u.unwrap(u32::MAX - 1), i64::from(u32::MAX) - 1);
        assert_eq!(u.unwrap(10), (1i64 << 32) + 10);
    }

    #[test]
    fn an_outlier_does_not_shift_the_timeline() {
        let mut u = TimestampUnwrapper::new();
        u.unwrap(1000);
        u.unwrap(0x9000_0000);
        assert_eq!(u.unwrap(1033), 1033);
    }

    #[test]
    fn many_wraps() {
        let mut u = TimestampUnwrapper::new();
        let mut expected = 0i64;
        let mut raw = 0u32;
        for _ in 0..10 {
            for _ in 0..4 {
                assert_eq!(u.unwrap(raw), expected);
                raw = raw.wrapping_add(1 << 30);
                expected += 1 << 30;
            }
        }
        assert_eq!(expected, 10i64 << 32);
    }
}
