//! The login rate limit: failed sign-ins per account name and per address in a sliding window.
//!
//! Each key keeps the times of its last `limit` failures, so a key costs at most `limit` numbers
//! and the answer is exact: refused while `limit` failures lie within the window, until the
//! oldest of them leaves it. The maps are bounded; when one is full, expired keys go first, then
//! the key whose last failure is oldest.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Limits and bounds.
#[derive(Debug, Clone, Copy)]
pub struct LimiterConfig {
    /// Failures allowed per name within the window.
    pub per_name: usize,
    /// Failures allowed per address within the window.
    pub per_ip: usize,
    /// The window, ms.
    pub window_ms: i64,
    /// Keys kept per map.
    pub max_keys: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            per_name: 5,
            per_ip: 20,
            window_ms: 15 * 60 * 1000,
            max_keys: 10_000,
        }
    }
}

/// Failed sign-ins by name and by address.
#[derive(Debug)]
pub struct LoginLimiter {
    config: LimiterConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    names: HashMap<String, VecDeque<i64>>,
    ips: HashMap<IpAddr, VecDeque<i64>>,
}

/// How long until `times` (at most `limit` failures) allows another attempt; 0 when it does now.
fn wait_ms(times: Option<&VecDeque<i64>>, limit: usize, window_ms: i64, now_ms: i64) -> u64 {
    let Some(times) = times else { return 0 };
    let recent = times.iter().filter(|&&t| now_ms - t < window_ms).count();
    if recent < limit {
        return 0;
    }
    // The oldest failure still counted must leave the window first.
    let oldest = times.iter().copied().find(|&t| now_ms - t < window_ms);
    oldest.map_or(0, |t| u64::try_from(t + window_ms - now_ms).unwrap_or(0))
}

fn record<K: Hash + Eq + Clone>(
    map: &mut HashMap<K, VecDeque<i64>>,
    key: &K,
    limit: usize,
    config: &LimiterConfig,
    now_ms: i64,
) {
    if !map.contains_key(key) && map.len() >= config.max_keys {
        map.retain(|_, times| times.back().is_some_and(|&t| now_ms - t < config.window_ms));
        if map.len() >= config.max_keys {
            let stalest = map
                .iter()
                .min_by_key(|(_, times)| times.back().copied().unwrap_or(i64::MIN))
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                map.remove(&k);
            }
        }
    }
    let times = map.entry(key.clone()).or_default();
    times.push_back(now_ms);
    while times.len() > limit.max(1) {
        times.pop_front();
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LimiterConfig::default())
    }
}

impl LoginLimiter {
    /// A limiter with these limits.
    pub fn new(config: LimiterConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(retry_after_ms)` when `name` or `ip` has used up its failures.
    pub fn check(&self, name: &str, ip: IpAddr, now_ms: i64) -> Result<(), u64> {
        let c = &self.config;
        let state = self.lock();
        let wait = wait_ms(state.names.get(name), c.per_name, c.window_ms, now_ms).max(wait_ms(
            state.ips.get(&ip),
            c.per_ip,
            c.window_ms,
            now_ms,
        ));
        if wait == 0 {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts a failed sign-in against `name` (when it could be an account) and `ip`.
    pub fn failed(&self, name: Option<&str>, ip: IpAddr, now_ms: i64) {
        let c = self.config;
        let mut state = self.lock();
        if let Some(name) = name {
            record(&mut state.names, &name.to_owned(), c.per_name, &c, now_ms);
        }
        record(&mut state.ips, &ip, c.per_ip, &c, now_ms);
    }

    /// A successful sign-in clears the name's failures (the address's stay: one address may be
    /// guessing at many names).
    pub fn succeeded(&self, name: &str) {
        self.lock().names.remove(name);
    }

    /// Keys held (names, addresses).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let state = self.lock();
        (state.names.len(), state.ips.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn five_failures_per_name_then_wait_for_the_oldest_to_expire() {
        let l = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(l.check("alice", ip(1), i * MIN), Ok(()));
            l.failed(Some("alice"), ip(i as u8), i * MIN);
        }
        // From any address: the name is what is being guessed.
        assert_eq!(
            l.check("alice", ip(9), 5 * MIN),
            Err((15 - 5) as u64 * MIN as u64)
        );
        assert_eq!(l.check("bob", ip(9), 5 * MIN), Ok(()));
        assert_eq!(l.check("alice", ip(9), 15 * MIN - 1), Err(1));
        assert_eq!(
            l.check("alice", ip(9), 15 * MIN),
            Ok(()),
            "the first one expired"
        );
        l.failed(Some("alice"), ip(9), 15 * MIN);
        assert_eq!(l.check("alice", ip(9), 15 * MIN), Err(MIN as u64));
    }

    #[test]
    fn twenty_failures_per_address_across_names_and_success_clears_the_name() {
        let l = LoginLimiter::default();
        for i in 0..20 {
            l.failed(Some(&format!("user{i}")), ip(1), 0);
        }
        assert_eq!(l.check("someone", ip(1), 1), Err(15 * MIN as u64 - 1));
        assert_eq!(l.check("someone", ip(2), 1), Ok(()));
        for _ in 0..4 {
            l.failed(Some("carol"), ip(3), 0);
        }
        l.succeeded("carol");
        l.failed(Some("carol"), ip(3), 0);
        assert_eq!(l.check("carol", ip(3), 0), Ok(()), "the count started over");
        l.failed(None, ip(4), 0);
        assert_eq!(l.sizes().1, 3);
    }

    #[test]
    fn maps_stay_bounded() {
        let l = LoginLimiter::new(LimiterConfig {
            max_keys: 3,
            ..LimiterConfig::default()
        });
        for i in 0..10 {
            l.failed(Some(&format!("n{i}")), ip(i), i64::from(i));
        }
        assert_eq!(l.sizes(), (3, 3));
        // The newest keys stayed.
        for _ in 0..4 {
            l.failed(Some("n9"), ip(9), 20);
        }
        assert!(l.check("n9", ip(0), 20).is_err());
        // Expired keys make room before live ones are dropped.
        let late = 20 * MIN;
        l.failed(Some("fresh"), ip(100), late);
        assert_eq!(l.sizes(), (1, 1));
    }
}
