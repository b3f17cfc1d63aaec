//! A value that is replaced whole while it is in use: readers take the current one as an `Arc`
//! and keep using it, and a replacement affects only those who look again. The TLS acceptor, the
//! relay's client identity and the exchange's seal rotate this way (`tls::reload`).

use std::sync::{Arc, RwLock};

/// The slot. Cloning shares it.
pub struct Slot<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Slot<T> {
        Slot(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Slots hold keys and acceptors: nothing of them is printed.
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

impl<T> From<T> for Slot<T> {
    fn from(value: T) -> Slot<T> {
        Slot(Arc::new(RwLock::new(Arc::new(value))))
    }
}

impl<T> Slot<T> {
    /// The value in force.
    pub fn current(&self) -> Arc<T> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc: the value is whole.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `value` the one later readers get; those holding the old one keep it.
    pub fn replace(&self, value: T) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_reaches_later_readers_only() {
        let slot = Slot::from(1);
        let shared = slot.clone();
        let before = slot.current();
        shared.replace(2);
        assert_eq!((*before, *slot.current()), (1, 2));
    }
}
