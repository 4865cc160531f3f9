//! Limits on the authorisation checks in flight.
//!
//! Every method that changes something asks polkit, and polkit may take a
//! while (it waits for an authentication agent when the call is
//! interactive). Without limits, one local user flooding the daemon with
//! calls would queue thousands of checks in polkitd and lock out the owner.
//! So at most [`PER_USER`] checks of one Unix user and [`IN_ALL`] checks in
//! all are in flight; a call over either limit is answered at once with
//! `LimitsExceeded` ("too many at once", never `AccessDenied`). One user
//! alone can never fill the total.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Checks in flight for one Unix user.
pub const PER_USER: usize = 4;
/// Checks in flight in all.
pub const IN_ALL: usize = 64;
/// Callers whose uid is remembered (unique bus names are never reused).
const UID_CACHE: usize = 4096;

/// The limits, and the uids of recent callers.
#[derive(Debug, Default)]
pub struct Gate {
    in_flight: Arc<Mutex<InFlight>>,
    uids: Mutex<HashMap<String, u32>>,
}

#[derive(Debug, Default)]
struct InFlight {
    all: usize,
    per_user: HashMap<u32, usize>,
}

/// A check in flight; dropping it ends it.
#[derive(Debug)]
pub struct Pass {
    in_flight: Arc<Mutex<InFlight>>,
    uid: u32,
}

/// Why a check was not let through: the limit that was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy(pub String);

impl Gate {
    /// The uid remembered for the caller `sender` (a unique bus name).
    pub fn known_uid(&self, sender: &str) -> Option<u32> {
        self.uids.lock().unwrap_or_else(PoisonError::into_inner).get(sender).copied()
    }

    /// Remembers the uid of `sender` (forgetting all when the cache is full).
    pub fn remember_uid(&self, sender: &str, uid: u32) {
        let mut uids = self.uids.lock().unwrap_or_else(PoisonError::into_inner);
        if uids.len() >= UID_CACHE {
            uids.clear();
        }
        uids.insert(sender.to_owned(), uid);
    }

    /// Lets one check of user `uid` through, or says which limit it hit.
    pub fn enter(&self, uid: u32) -> Result<Pass, Busy> {
        let mut f = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = f.per_user.get(&uid).copied().unwrap_or(0);
        if mine >= PER_USER {
            return Err(Busy(format!(
                "too many authorisation checks in flight for uid {uid} (at most {PER_USER} at once); try again when they are answered"
            )));
        }
        if f.all >= IN_ALL {
            return Err(Busy(format!(
                "too many authorisation checks in flight (at most {IN_ALL} at once); try again shortly"
            )));
        }
        f.all += 1;
        f.per_user.insert(uid, mine + 1);
        Ok(Pass { in_flight: self.in_flight.clone(), uid })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut f = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        f.all = f.all.saturating_sub(1);
        if let Some(n) = f.per_user.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                f.per_user.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_user_is_held_to_its_share_and_others_still_get_through() {
        let gate = Gate::default();
        let nobody: Vec<Pass> = (0..PER_USER).map(|_| gate.enter(65534).expect("within the share")).collect();
        let busy = gate.enter(65534).expect_err("over the share");
        assert!(busy.0.contains("uid 65534") && busy.0.contains("at most 4"), "{busy:?}");
        let root = gate.enter(0).expect("another user is not held up");
        drop(nobody);
        let again = gate.enter(65534).expect("answered checks free the share");
        drop((root, again));
        assert_eq!(gate.in_flight.lock().expect("lock").all, 0);
    }

    #[test]
    fn the_total_is_bounded_and_no_user_alone_fills_it() {
        let gate = Gate::default();
        let passes: Vec<Pass> =
            (0..IN_ALL as u32).map(|i| gate.enter(1000 + i / PER_USER as u32).expect("pass")).collect();
        let busy = gate.enter(0).expect_err("over the total");
        assert!(busy.0.contains("at most 64"), "{busy:?}");
        drop(passes);
        assert!(gate.enter(0).is_ok());
        const { assert!(IN_ALL > PER_USER) };
    }

    #[test]
    fn the_uid_cache_stays_bounded() {
        let gate = Gate::default();
        for i in 0..(UID_CACHE + 10) {
            gate.remember_uid(&format!(":1.{i}"), 1000);
        }
        assert!(gate.uids.lock().expect("lock").len() <= UID_CACHE);
        assert_eq!(gate.known_uid(&format!(":1.{}", UID_CACHE + 9)), Some(1000));
    }
}
