//! Restart strategies: whether, and after how long, a failed job is restarted.
//!
//! The strategy only decides; the job master restarts. Time is passed in, so the
//! decisions are tested without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use spate_core::config::fault_tolerance as ft;
use spate_core::config::{Configuration, RestartStrategyType};

/// A restart strategy with its parameters (`restart-strategy.*`).
#[derive(Clone, Debug, PartialEq)]
pub enum RestartStrategy {
    /// Never restart.
    None,
    /// Up to `attempts` restarts, each after `delay`.
    FixedDelay {
        /// Restarts before giving up.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Restart after `delay`, unless `max_failures` failures happened within `interval`.
    FailureRate {
        /// Failures in the interval that make the job fail.
        max_failures: u32,
        /// The sliding window.
        interval: Duration,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Delays from `initial`, multiplied by `multiplier` per failure up to `max`, back to
    /// `initial` after `reset_threshold` without failure; each spread by `jitter`.
    ExponentialDelay {
        /// First delay.
        initial: Duration,
        /// Largest delay.
        max: Duration,
        /// Growth per failure.
        multiplier: f64,
        /// Quiet time after which the delay resets.
        reset_threshold: Duration,
        /// Random spread (0..=1) of each delay.
        jitter: f64,
        /// Restarts allowed since the last reset (`None`: unlimited).
        attempts: Option<u32>,
    },
}

impl RestartStrategy {
    /// The strategy configured in `config`; unset, Flink's default: exponential delay
    /// when `checkpointing`, none otherwise.
    pub fn from_config(config: &Configuration, checkpointing: bool) -> Result<Self, spate_core::CoreError> {
        let kind = config.get(&ft::RESTART_STRATEGY)?.unwrap_or(if checkpointing {
            RestartStrategyType::ExponentialDelay
        } else {
            RestartStrategyType::None
        });
        Ok(match kind {
            RestartStrategyType::None => RestartStrategy::None,
            RestartStrategyType::FixedDelay => RestartStrategy::FixedDelay {
                attempts: config.get(&ft::FIXED_DELAY_ATTEMPTS)?,
                delay: config.get(&ft::FIXED_DELAY_DELAY)?,
            },
            RestartStrategyType::FailureRate => RestartStrategy::FailureRate {
                max_failures: config.get(&ft::FAILURE_RATE_MAX_FAILURES)?,
                interval: config.get(&ft::FAILURE_RATE_INTERVAL)?,
                delay: config.get(&ft::FAILURE_RATE_DELAY)?,
            },
            RestartStrategyType::ExponentialDelay => RestartStrategy::ExponentialDelay {
                initial: config.get(&ft::EXPONENTIAL_INITIAL)?,
                max: config.get(&ft::EXPONENTIAL_MAX)?,
                multiplier: config.get(&ft::EXPONENTIAL_MULTIPLIER)?,
                reset_threshold: config.get(&ft::EXPONENTIAL_RESET)?,
                jitter: config.get(&ft::EXPONENTIAL_JITTER)?,
                attempts: config.get(&ft::EXPONENTIAL_ATTEMPTS)?,
            },
        })
    }
}

/// A strategy applied to one job's failures.
#[derive(Debug)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    /// Restarts so far (since the last reset, for exponential delay).
    restarts: u32,
    /// Times of recent failures (failure rate).
    failures: VecDeque<Instant>,
    /// The delay the next exponential restart waits (before jitter).
    backoff: Duration,
    /// When the job was last restarted.
    last_restart: Option<Instant>,
    /// State of the jitter's random numbers.
    seed: u64,
}

impl RestartTracker {
    /// A tracker that has seen no failure.
    pub fn new(strategy: RestartStrategy) -> Self {
        let backoff = match &strategy {
            RestartStrategy::ExponentialDelay { initial, .. } => *initial,
            _ => Duration::ZERO,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9)
            | 1;
        RestartTracker { strategy, restarts: 0, failures: VecDeque::new(), backoff, last_restart: None, seed }
    }

    /// The strategy.
    pub fn strategy(&self) -> &RestartStrategy {
        &self.strategy
    }

    /// A failure happened at `now`: the delay before restarting, or `None` to fail the
    /// job.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let delay = match self.strategy.clone() {
            RestartStrategy::None => return None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                if self.restarts >= attempts {
                    return None;
                }
                delay
            }
            RestartStrategy::FailureRate { max_failures, interval, delay } => {
                self.failures.push_back(now);
                while self.failures.front().is_some_and(|t| now.duration_since(*t) > interval) {
                    self.failures.pop_front();
                }
                // Flink's meaning: at most `max_failures` restarts within the interval.
                if self.failures.len() as u32 > max_failures {
                    return None;
                }
                delay
            }
            RestartStrategy::ExponentialDelay { initial, max, multiplier, reset_threshold, jitter, attempts } => {
                if self.last_restart.is_some_and(|t| now.duration_since(t) >= reset_threshold) {
                    self.backoff = initial;
                    self.restarts = 0;
                }
                if attempts.is_some_and(|a| self.restarts >= a) {
                    return None;
                }
                let base = self.backoff.min(max);
                self.backoff = base.mul_f64(multiplier).min(max);
                let spread = base.as_secs_f64() * jitter * (2.0 * self.random() - 1.0);
                Duration::from_secs_f64((base.as_secs_f64() + spread).max(0.0)).min(max)
            }
        };
        self.restarts += 1;
        self.last_restart = Some(now + delay);
        Some(delay)
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// A number in [0, 1) (xorshift64).
    fn random(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn none_never_restarts() {
        assert_eq!(RestartTracker::new(RestartStrategy::None).on_failure(Instant::now()), None);
    }

    #[test]
    fn fixed_delay_gives_up_after_its_attempts() {
        let mut t = RestartTracker::new(RestartStrategy::FixedDelay { attempts: 2, delay: 3 * S });
        let now = Instant::now();
        assert_eq!(t.on_failure(now), Some(3 * S));
        assert_eq!(t.on_failure(now + 10 * S), Some(3 * S));
        assert_eq!(t.on_failure(now + 20 * S), None);
    }

    #[test]
    fn failure_rate_counts_failures_in_a_sliding_interval() {
        let strategy = RestartStrategy::FailureRate { max_failures: 3, interval: 60 * S, delay: S };
        let mut t = RestartTracker::new(strategy);
        let now = Instant::now();
        assert_eq!(t.on_failure(now), Some(S));
        assert_eq!(t.on_failure(now + 10 * S), Some(S));
        // The first failure left the interval: two in it, so still restarting.
        assert_eq!(t.on_failure(now + 61 * S), Some(S));
        assert_eq!(t.on_failure(now + 65 * S), Some(S));
        // A fourth within 60 s: more than three restarts in the interval, give up.
        assert_eq!(t.on_failure(now + 66 * S), None);
    }

    #[test]
    fn exponential_delay_grows_caps_and_resets() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial: S,
            max: 5 * S,
            multiplier: 2.0,
            reset_threshold: 100 * S,
            jitter: 0.0,
            attempts: None,
        };
        let mut t = RestartTracker::new(strategy);
        let now = Instant::now();
        let delays: Vec<u64> = (0..5).map(|i| t.on_failure(now + i * S).unwrap().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5]);
        // Long without failure: back to the initial delay.
        assert_eq!(t.on_failure(now + 1000 * S), Some(S));
    }

    #[test]
    fn exponential_delay_jitter_stays_within_its_spread_and_attempts_are_limited() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial: 10 * S,
            max: 10 * S,
            multiplier: 1.5,
            reset_threshold: 1000 * S,
            jitter: 0.1,
            attempts: Some(20),
        };
        let mut t = RestartTracker::new(strategy);
        let now = Instant::now();
        for _ in 0..20 {
            let d = t.on_failure(now).unwrap().as_secs_f64();
            assert!((9.0..=10.0).contains(&d), "{d}");
        }
        assert_eq!(t.on_failure(now), None);
    }

    #[test]
    fn defaults_follow_flink() {
        let config = Configuration::new();
        assert_eq!(RestartStrategy::from_config(&config, false).unwrap(), RestartStrategy::None);
        assert!(matches!(
            RestartStrategy::from_config(&config, true).unwrap(),
            RestartStrategy::ExponentialDelay { multiplier: 1.5, .. }
        ));
        let mut config = Configuration::new();
        config.set_raw("restart-strategy.type", "fixed-delay").set_raw("restart-strategy.fixed-delay.attempts", "7");
        assert_eq!(
            RestartStrategy::from_config(&config, false).unwrap(),
            RestartStrategy::FixedDelay { attempts: 7, delay: S }
        );
        config.set_raw("restart-strategy.type", "sometimes");
        assert!(
            RestartStrategy::from_config(&config, false).unwrap_err().to_string().contains("restart-strategy.type")
        );
    }
}
