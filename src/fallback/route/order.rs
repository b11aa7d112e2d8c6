use std::cmp::Ordering;
use std::fmt;

use crate::fallback::MAX_TIERS;

/// The tiers one request tries, in order, by configured position: 0 for
/// the primary, 1 for the first tier added, and so on. Written by a
/// [`Route`](super::Route).
///
/// Fixed-size and on the stack: making, sorting and filtering one never
/// allocates. It holds each position at most once and only positions the
/// layer has: [`push`](Self::push) refuses the others.
///
/// ```
/// use tower_failover::fallback::Order;
///
/// let mut order = Order::configured(4);
/// assert_eq!(order.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
/// order.retain(|position| position != 2);
/// order.sort_by_key(|position| std::cmp::Reverse(position));
/// assert_eq!(order.iter().collect::<Vec<_>>(), [3, 1, 0]);
/// assert!(!order.push(3), "already there");
/// assert!(!order.push(4), "no such tier");
/// assert!(order.push(2));
/// assert_eq!(order.first(), Some(3));
/// assert_eq!(order.len(), 4);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Order {
    positions: [u8; MAX_TIERS],
    len: u8,
    // How many tiers the layer has, the primary included.
    tiers: u8,
}

// Positions fit in a `u8`.
const _: () = assert!(MAX_TIERS <= u8::MAX as usize);

impl Order {
    /// The configured order of `tiers` tiers (at most
    /// [`MAX_TIERS`](crate::fallback::MAX_TIERS)): `0, 1, …, tiers - 1`.
    pub fn configured(tiers: usize) -> Self {
        let tiers = tiers.min(MAX_TIERS);
        let mut positions = [0; MAX_TIERS];
        for (position, slot) in positions.iter_mut().enumerate().take(tiers) {
            *slot = position as u8;
        }
        Self {
            positions,
            len: tiers as u8,
            tiers: tiers as u8,
        }
    }

    /// How many tiers the order holds.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the order holds no tier.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The position tried first.
    pub fn first(&self) -> Option<usize> {
        self.get(0)
    }

    /// The position tried at `step` (0 first).
    pub fn get(&self, step: usize) -> Option<usize> {
        self.as_slice()
            .get(step)
            .map(|&position| usize::from(position))
    }

    /// Whether the order holds `position`.
    pub fn contains(&self, position: usize) -> bool {
        self.as_slice()
            .iter()
            .any(|&held| usize::from(held) == position)
    }

    /// The positions in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.as_slice()
            .iter()
            .map(|&position| usize::from(position))
    }

    /// Empties the order (to [`push`](Self::push) another).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `position`; `false` (and no change) if the layer has no such
    /// tier or the order holds it already.
    pub fn push(&mut self, position: usize) -> bool {
        if position >= usize::from(self.tiers) || self.contains(position) {
            return false;
        }
        self.positions[self.len()] = position as u8;
        self.len += 1;
        true
    }

    /// Keeps only the positions for which `keep` returns `true`, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut kept = 0;
        for step in 0..self.len() {
            let position = self.positions[step];
            if keep(usize::from(position)) {
                self.positions[kept] = position;
                kept += 1;
            }
        }
        self.len = kept as u8;
    }

    /// Moves `position` to the front, the others keeping their order;
    /// `false` if the order does not hold it.
    pub fn move_to_front(&mut self, position: usize) -> bool {
        let Some(step) = self.iter().position(|held| held == position) else {
            return false;
        };
        self.positions[..=step].rotate_right(1);
        true
    }

    /// Sorts by `compare`, stably: positions that compare equal keep their
    /// order.
    pub fn sort_by(&mut self, mut compare: impl FnMut(usize, usize) -> Ordering) {
        // Insertion sort: stable, in place, and quick for 16 elements.
        let len = self.len();
        for i in 1..len {
            let mut j = i;
            while j > 0
                && compare(
                    usize::from(self.positions[j]),
                    usize::from(self.positions[j - 1]),
                ) == Ordering::Less
            {
                self.positions.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    /// Sorts by the key `key` gives each position, stably.
    pub fn sort_by_key<K: Ord>(&mut self, mut key: impl FnMut(usize) -> K) {
        self.sort_by(|a, b| key(a).cmp(&key(b)));
    }

    fn as_slice(&self) -> &[u8] {
        &self.positions[..self.len()]
    }
}

impl fmt::Debug for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
