//! A shared value that tasks wait on, whose waiters wake in the order they began to wait.
//!
//! tokio's `watch` (which `commonware_utils::channel::watch` re-exports) spreads its waiters over
//! eight queues picked with tokio's thread-local random generator, so two tasks waiting on one
//! value wake in an order that differs between runs. Under commonware's deterministic runtime the
//! order of wakes decides the order of polls, and a simulation seed with several waiters on one
//! value (verifications in flight under lookahead, each waiting for an L1 block or a look at the
//! connected peers) did not replay. Ordo's waits on shared values use [`Watch`] instead: waiters
//! are kept in a list and woken front to back.

use futures::channel::oneshot;
use std::{
    future::Future,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// A value, the number of times it changed, and who waits for its next change. Clones share it.
pub struct Watch<T> {
    shared: Arc<Mutex<State<T>>>,
}

struct State<T> {
    value: T,
    version: u64,
    /// In the order the waits began; each change empties it.
    waiters: Vec<oneshot::Sender<()>>,
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Default> Default for Watch<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Watch<T> {
    pub fn new(value: T) -> Self {
        Self {
            shared: Arc::new(Mutex::new(State {
                value,
                version: 0,
                waiters: Vec::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // Every update below completes before it could panic, so a poisoned lock is consistent.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the value (under the lock: keep `read` short).
    pub fn read<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.state().value)
    }

    /// How many times the value changed; [`Self::changed_since`] takes it.
    pub fn version(&self) -> u64 {
        self.state().version
    }

    /// Changes the value, then wakes every waiter, first come first woken.
    pub fn modify(&self, modify: impl FnOnce(&mut T)) {
        self.update(|value| {
            modify(value);
            true
        });
    }

    /// [`Self::modify`] if `update` says it changed the value (returns true); else nothing
    /// changes and nobody wakes. One step under the lock, so concurrent updates cannot undo each
    /// other (a read, then a `set`, could).
    pub fn update(&self, update: impl FnOnce(&mut T) -> bool) {
        let mut state = self.state();
        if !update(&mut state.value) {
            return;
        }
        state.version += 1;
        for waiter in state.waiters.drain(..) {
            // A waiter that gave up has nothing to wake.
            let _ = waiter.send(());
        }
    }

    /// Replaces the value and wakes every waiter ([`Self::modify`]).
    pub fn set(&self, value: T) {
        self.modify(|current| *current = value);
    }

    /// Resolves once the value has changed after `version` (at once if it already has). The
    /// future holds no lock and no reference to the watch.
    pub fn changed_since(&self, version: u64) -> impl Future<Output = ()> + Send + 'static {
        let mut state = self.state();
        let woken = (state.version <= version).then(|| {
            // Waiters that gave up are dropped here, so an idle value does not pile them up.
            state.waiters.retain(|waiter| !waiter.is_canceled());
            let (waiter, woken) = oneshot::channel();
            state.waiters.push(waiter);
            woken
        });
        async move {
            if let Some(woken) = woken {
                // Cancelled only if every clone of the watch is gone: there is nothing left to
                // wait for either way.
                let _ = woken.await;
            }
        }
    }

    /// Resolves once the value changes after this call.
    pub fn next_change(&self) -> impl Future<Output = ()> + Send + 'static {
        let version = self.version();
        // A change in between resolves it at once, as it should: it came after the call.
        self.changed_since(version)
    }

    /// Resolves once `done` holds for the value (at once if it holds now).
    pub async fn wait_until(&self, done: impl Fn(&T) -> bool) {
        loop {
            let changed = {
                let state = self.state();
                if done(&state.value) {
                    return;
                }
                state.version
            };
            self.changed_since(changed).await;
        }
    }

    /// How many waits are registered and not given up (tests).
    pub fn waiting(&self) -> usize {
        let state = self.state();
        state.waiters.iter().filter(|w| !w.is_canceled()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{executor::block_on, FutureExt as _};
    use std::task::{Context, Poll, Wake, Waker};

    /// A waker that records, in a shared log, the order in which the tasks it stands for woke.
    struct Logged {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl Wake for Logged {
        fn wake(self: Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    #[test]
    fn waiters_wake_in_the_order_they_began_to_wait() {
        let watch = Watch::new(0u64);
        let log = Arc::new(Mutex::new(Vec::new()));
        // Begun in a scrambled order; tokio's watch would wake them in a random one.
        let order = [5, 2, 7, 0, 3, 6, 1, 4];
        let mut waits: Vec<_> = order
            .iter()
            .map(|&id| {
                let mut wait = watch.changed_since(watch.version()).boxed();
                let waker = Waker::from(Arc::new(Logged {
                    id,
                    log: log.clone(),
                }));
                assert!(wait
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
                wait
            })
            .collect();
        watch.set(1);
        assert_eq!(*log.lock().unwrap(), order);
        let waker = Waker::noop();
        for wait in &mut waits {
            assert_eq!(
                wait.as_mut().poll(&mut Context::from_waker(waker)),
                Poll::Ready(())
            );
        }
    }

    #[test]
    fn a_change_before_the_wait_resolves_it_at_once() {
        let watch = Watch::new("a");
        let seen = watch.version();
        watch.set("b");
        block_on(watch.changed_since(seen));
        assert_eq!(watch.read(|v| *v), "b");
        assert_eq!(
            watch.waiting(),
            0,
            "nothing registered for a change already seen"
        );
    }

    #[test]
    fn wait_until_returns_once_the_condition_holds_and_not_before() {
        let watch = Watch::new(0u64);
        let mut wait = watch.wait_until(|n| *n >= 3).boxed();
        let mut poll = || wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll().is_pending());
        watch.set(1);
        assert!(poll().is_pending(), "1 is below 3");
        watch.modify(|n| *n += 2);
        assert_eq!(poll(), Poll::Ready(()));
    }

    #[test]
    fn an_update_that_changes_nothing_wakes_nobody() {
        let watch = Watch::new(5u64);
        let mut wait = watch.next_change().boxed();
        let mut poll = || wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll().is_pending());
        let raise = |to: u64| {
            move |n: &mut u64| {
                let higher = *n < to;
                if higher {
                    *n = to;
                }
                higher
            }
        };
        watch.update(raise(3));
        assert_eq!((watch.read(|n| *n), watch.version()), (5, 0));
        assert!(poll().is_pending(), "5 stays: no change, no wake");
        watch.update(raise(8));
        assert_eq!((watch.read(|n| *n), watch.version()), (8, 1));
        assert_eq!(poll(), Poll::Ready(()));
    }

    #[test]
    fn waits_given_up_do_not_pile_up() {
        let watch = Watch::new(());
        for _ in 0..100 {
            let mut wait = watch.changed_since(watch.version()).boxed();
            assert!(wait
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
        }
        assert!(watch.state().waiters.len() <= 1);
        assert_eq!(watch.waiting(), 0);
    }
}
