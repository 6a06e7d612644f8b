//! What the web server keeps in RAM during one boot: the sessions its login form handed out
//! and the count of refused logins that locks the admin account.
//!
//! Both die with the router at power-off, like the firmware's own state. ASSUMED (no public
//! source): the failure count and the lock live in RAM, so a power cycle clears them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Refused logins in a row that lock the account. ASSUMED: five; no public document
/// states the firmware's number.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// How long a locked account refuses every login, at `time_scale` 1.0. ASSUMED: 180 s.
pub const LOCKOUT_S: f64 = 180.0;

/// Sessions kept at once. A client that fetches the login form in a loop must not grow the
/// phone's memory without bound; the oldest session is forgotten first.
pub const MAX_SESSIONS: usize = 256;

/// One session handed out by the login form.
#[derive(Debug, Clone, Default)]
struct Session {
    /// Set by a successful login: the token write requests must carry.
    token: Option<String>,
}

/// The sessions of one boot, keyed by their `JSESSIONID`.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    /// Creation order, to forget the oldest first.
    order: VecDeque<String>,
}

impl Sessions {
    /// Registers a new, not yet logged-in session.
    pub fn open(&mut self, id: String) {
        while self.by_id.len() >= MAX_SESSIONS {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.by_id.remove(&oldest);
                }
                None => break,
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, Session::default());
    }

    /// Whether the login form handed out this id during this boot.
    pub fn exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Marks the session logged in with its token; false if the id is unknown.
    pub fn log_in(&mut self, id: &str, token: String) -> bool {
        match self.by_id.get_mut(id) {
            Some(session) => {
                session.token = Some(token);
                true
            }
            None => false,
        }
    }

    /// The token of a logged-in session; `None` for unknown or anonymous sessions.
    pub fn token(&self, id: &str) -> Option<&str> {
        self.by_id.get(id)?.token.as_deref()
    }
}

/// Where the admin account stands with respect to refused logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Logins are checked; this many more refusals are allowed before the lock.
    Open {
        /// Attempts left before the lock.
        left_times: u32,
    },
    /// Every login is refused until the lock expires.
    Locked {
        /// Time left on the lock.
        remaining: Duration,
    },
}

/// The refused-login counter and the lock it triggers. Wall time is the clock: the lock runs
/// out while the phone is idle, whatever the client does.
#[derive(Debug)]
pub struct LoginGuard {
    failures: u32,
    locked_until: Option<Instant>,
    lockout: Duration,
}

impl LoginGuard {
    /// A guard whose lock lasts `lockout` (already scaled by the lab's `time_scale`).
    pub fn new(lockout: Duration) -> LoginGuard {
        LoginGuard {
            failures: 0,
            locked_until: None,
            lockout,
        }
    }

    /// The state at `now`; an expired lock is lifted and the count starts over.
    pub fn state(&mut self, now: Instant) -> LockState {
        if let Some(until) = self.locked_until {
            if now < until {
                return LockState::Locked {
                    remaining: until - now,
                };
            }
            self.locked_until = None;
            self.failures = 0;
        }
        LockState::Open {
            left_times: MAX_FAILED_LOGINS.saturating_sub(self.failures),
        }
    }

    /// Counts one refused login at `now`; the last allowed one starts the lock. Returns the
    /// attempts left (0 once locked).
    pub fn record_failure(&mut self, now: Instant) -> u32 {
        if let LockState::Locked { .. } = self.state(now) {
            return 0;
        }
        self.failures += 1;
        if self.failures >= MAX_FAILED_LOGINS {
            self.locked_until = Some(now + self.lockout);
            return 0;
        }
        MAX_FAILED_LOGINS - self.failures
    }

    /// A successful login clears the count. ASSUMED: the firmware counts failures in a row.
    pub fn record_success(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_log_in_only_known_ids() {
        let mut sessions = Sessions::default();
        sessions.open("a".into());
        assert!(sessions.exists("a"));
        assert_eq!(sessions.token("a"), None);
        assert!(!sessions.log_in("b", "t".into()));
        assert!(sessions.log_in("a", "t".into()));
        assert_eq!(sessions.token("a"), Some("t"));
    }

    #[test]
    fn sessions_forget_the_oldest_beyond_the_cap() {
        let mut sessions = Sessions::default();
        for i in 0..=MAX_SESSIONS {
            sessions.open(format!("s{i}"));
        }
        assert!(!sessions.exists("s0"));
        assert!(sessions.exists("s1"));
        assert!(sessions.exists(&format!("s{MAX_SESSIONS}")));
    }

    #[test]
    fn guard_locks_after_the_last_allowed_failure_and_lifts_after_the_lockout() {
        let start = Instant::now();
        let mut guard = LoginGuard::new(Duration::from_secs(180));
        for expected_left in (0..MAX_FAILED_LOGINS).rev() {
            assert_eq!(guard.record_failure(start), expected_left);
        }
        assert_eq!(
            guard.state(start + Duration::from_secs(179)),
            LockState::Locked {
                remaining: Duration::from_secs(1)
            }
        );
        assert_eq!(guard.record_failure(start), 0);
        assert_eq!(
            guard.state(start + Duration::from_secs(180)),
            LockState::Open {
                left_times: MAX_FAILED_LOGINS
            }
        );
    }

    #[test]
    fn guard_success_resets_the_count() {
        let now = Instant::now();
        let mut guard = LoginGuard::new(Duration::from_secs(180));
        guard.record_failure(now);
        guard.record_failure(now);
        guard.record_success();
        assert_eq!(
            guard.state(now),
            LockState::Open {
                left_times: MAX_FAILED_LOGINS
            }
        );
    }
}
