//! The registry behind the keyed layers
//! ([`KeyedCircuitBreakerLayer`](crate::circuit_breaker::KeyedCircuitBreakerLayer),
//! [`KeyedRateLimitLayer`](crate::rate_limit::KeyedRateLimitLayer)): one
//! value per key, created on a key's first use, at most a bound of them.
//!
//! What is shared: the map behind a `RwLock` (a read lock per call, the
//! write lock on a key's first use only, never held across an await), the
//! bound (changed in place, for every clone), the handles' reads, and
//! second-chance victim selection. What differs is a [`Policy`]: how a new
//! value is made and how a full registry makes room for it, which values
//! may be evicted, and whether a new key may be refused.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// A value of a registry: a shared breaker or limiter behind an `Arc`,
/// cheap to clone, carrying the use mark that second chance reads.
pub(crate) trait Entry: Clone {
    /// Marks the value used since the previous eviction sweep. Runs on
    /// every call: reads first, writes only if the mark is clear.
    fn touch(&self);

    /// Clears the use mark, returning whether it was set.
    fn untouch(&self) -> bool;
}

/// What differs between the keyed layers.
pub(crate) trait Policy<K> {
    /// What the registry holds per key.
    type Value: Entry;

    /// Why a new key is refused when no value may go
    /// ([`Infallible`](std::convert::Infallible) if it never is).
    type Refusal;

    /// Makes room in `map`, which holds `max` values or more (the bound may
    /// have been lowered), for a new key: evicts (choosing with
    /// [`second_chance`]) or refuses the key. Runs under the write lock.
    fn make_room(&self, map: &mut HashMap<K, Self::Value>, max: usize) -> Result<(), Self::Refusal>
    where
        K: Hash + Eq + Clone;

    /// The value of a new `key`, `map` holding the values already there.
    /// Runs under the write lock.
    fn make(&self, key: &K, map: &HashMap<K, Self::Value>) -> Self::Value;

    /// The settings shown by the registry's `Debug`.
    fn config(&self) -> &dyn fmt::Debug;
}

/// One value per key, created on first use by `policy`, at most `max`.
pub(crate) struct Registry<K, P: Policy<K>> {
    policy: P,
    max: AtomicUsize,
    map: RwLock<HashMap<K, P::Value>>,
}

impl<K, P: Policy<K>> Registry<K, P> {
    /// An empty registry of at most 1,024 values.
    pub(crate) fn new(policy: P) -> Self {
        Self {
            policy,
            max: AtomicUsize::new(1_024),
            map: RwLock::new(HashMap::new()),
        }
    }

    /// How values are made and evicted.
    #[cfg(feature = "circuit-breaker")]
    pub(crate) fn policy(&self) -> &P {
        &self.policy
    }

    /// Changes the bound in place; a lowered bound applies at the next new
    /// key.
    pub(crate) fn set_max(&self, max: NonZeroUsize) {
        self.max.store(max.get(), Ordering::Relaxed);
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<K, P::Value>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many values there are.
    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }
}

impl<K: Hash + Eq + Clone, P: Policy<K>> Registry<K, P> {
    /// The value of `key`, made on its first use: a read lock in the common
    /// case, the write lock (and perhaps an eviction or a refusal) on a
    /// key's first use. The lock is released before returning.
    #[inline]
    pub(crate) fn get_or_make(&self, key: K) -> Result<P::Value, P::Refusal> {
        {
            let map = self.read();
            if let Some(value) = map.get(&key) {
                value.touch();
                return Ok(value.clone());
            }
        }
        self.insert(key)
    }

    #[cold]
    fn insert(&self, key: K) -> Result<P::Value, P::Refusal> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = map.get(&key) {
            return Ok(value.clone());
        }
        let max = self.max.load(Ordering::Relaxed);
        if map.len() >= max {
            self.policy.make_room(&mut map, max)?;
        }
        let value = self.policy.make(&key, &map);
        map.insert(key, value.clone());
        Ok(value)
    }

    /// The value of `key`, if it exists (not marked used).
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<P::Value>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read().get(key).cloned()
    }

    /// The keys that have a value.
    pub(crate) fn keys(&self) -> Vec<K> {
        self.read().keys().cloned().collect()
    }

    /// Forgets the value of `key`; returns whether there was one.
    #[cfg(feature = "circuit-breaker")]
    pub(crate) fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(key).is_some()
    }
}

/// Second chance (the CLOCK approximation of least recently used) among the
/// values `may_go` accepts: the first not used since the previous sweep,
/// clearing the use mark of every such value passed over. At most two
/// sweeps, so some value is found if `may_go` accepts any; `None` if it
/// accepts none. Values `may_go` refuses keep their mark.
pub(crate) fn second_chance<K: Clone, V: Entry>(
    map: &HashMap<K, V>,
    may_go: impl Fn(&V) -> bool,
) -> Option<K> {
    for _sweep in 0..2 {
        for (key, value) in map {
            if may_go(value) && !value.untouch() {
                return Some(key.clone());
            }
        }
    }
    None
}

impl<K, P: Policy<K>> fmt::Debug for Registry<K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.map.read().map(|map| map.len()).unwrap_or(0);
        f.debug_struct("Registry")
            .field("config", self.policy.config())
            .field("max", &self.max.load(Ordering::Relaxed))
            .field("len", &len)
            .finish_non_exhaustive()
    }
}
