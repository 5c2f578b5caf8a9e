//! Work spread over the cores, results kept in order, and a panic kept to the one item
//! that caused it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// An item whose work panicked (a bug); the message, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Panicked(pub(crate) String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `f` over `items` on up to `threads` threads. The result for item `i` is at
/// index `i`, whatever happened to the others: a panic in one item is that item's
/// `Err`, never a missing or shifted result.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Result<R, Panicked>> {
    let run = |item: &T| caught(|| f(item));
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(run).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<R, Panicked>>> = (0..items.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<R, Panicked>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|n| {
                std::thread::Builder::new()
                    .name(format!("ward-load-{n}"))
                    .spawn_scoped(scope, || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else { break };
                            done.push((i, run(item)));
                        }
                        done
                    })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|spawned| spawned.ok())
            .map(|handle| handle.join().unwrap_or_default())
            .collect()
    });
    for (i, result) in done.into_iter().flatten() {
        slots[i] = Some(result);
    }
    // An item no thread reached (one could not be started) is done here, in order.
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, item)| slot.unwrap_or_else(|| run(item)))
        .collect()
}

/// `f()`, its panic (a bug) made the item's error.
fn caught<R>(f: impl FnOnce() -> R) -> Result<R, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        Panicked(
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string()),
        )
    })
}

/// Items `0..count` of some work on `context`, which any thread holding the job may
/// take a share of: helper threads call [`Self::work`], and the thread that needs the
/// results calls [`Self::finish`], which works through what is left instead of waiting
/// idle. Where a fixed split leaves one thread waiting for another (a parse waiting for
/// the helper that hashes its addresses), the two share the work as it comes.
pub(crate) struct SharedWork<C, R> {
    context: C,
    count: usize,
    run: fn(&C, usize) -> R,
    next: AtomicUsize,
    results: Mutex<Filled<R>>,
    all_filled: Condvar,
}

struct Filled<R> {
    results: Vec<Option<Result<R, Panicked>>>,
    filled: usize,
}

impl<C, R> SharedWork<C, R> {
    pub(crate) fn new(context: C, count: usize, run: fn(&C, usize) -> R) -> Self {
        SharedWork {
            context,
            count,
            run,
            next: AtomicUsize::new(0),
            results: Mutex::new(Filled {
                results: (0..count).map(|_| None).collect(),
                filled: 0,
            }),
            all_filled: Condvar::new(),
        }
    }

    /// Does items no thread has taken yet, until none is left.
    pub(crate) fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.count {
                return;
            }
            let result = caught(|| (self.run)(&self.context, i));
            let mut filled = self.results.lock().unwrap_or_else(PoisonError::into_inner);
            filled.results[i] = Some(result);
            filled.filled += 1;
            if filled.filled == self.count {
                self.all_filled.notify_all();
            }
        }
    }

    /// Works through what is left, waits for the items other threads took, and returns
    /// every result in order, with the context back when no other thread holds the job
    /// any more.
    pub(crate) fn finish(self: Arc<Self>) -> (Vec<Result<R, Panicked>>, Option<C>) {
        self.work();
        let results = {
            let mut filled = self.results.lock().unwrap_or_else(PoisonError::into_inner);
            while filled.filled < self.count {
                filled = self
                    .all_filled
                    .wait(filled)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::take(&mut filled.results)
        };
        let results = results
            .into_iter()
            .map(|result| result.unwrap_or_else(|| Err(Panicked("never done".to_string()))))
            .collect();
        (results, Arc::into_inner(self).map(|work| work.context))
    }
}

/// One thread per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items shared between helpers and the thread that finishes come back once each,
    /// in order, a panic as its own item's error, whether helpers took part or not.
    #[test]
    fn shared_work_returns_every_item_once_in_order() {
        fn square(calls: &AtomicUsize, i: usize) -> usize {
            calls.fetch_add(1, Ordering::Relaxed);
            if i == 17 {
                panic!("item 17 fails");
            }
            i * i
        }
        for helpers in [0, 1, 3] {
            let work = Arc::new(SharedWork::new(AtomicUsize::new(0), 100, square));
            let threads: Vec<_> = (0..helpers)
                .map(|_| {
                    let work = work.clone();
                    std::thread::spawn(move || work.work())
                })
                .collect();
            let (results, _) = work.clone().finish();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(
                work.context.load(Ordering::Relaxed),
                100,
                "each item done once"
            );
            for (i, result) in results.iter().enumerate() {
                if i == 17 {
                    assert_eq!(result, &Err(Panicked("item 17 fails".to_string())));
                } else {
                    assert_eq!(result, &Ok(i * i));
                }
            }
        }
        let alone = Arc::new(SharedWork::new(7usize, 3, |c, i| c + i));
        let (results, context) = alone.finish();
        assert_eq!(results, vec![Ok(7), Ok(8), Ok(9)]);
        assert_eq!(
            context,
            Some(7),
            "the context comes back to its only holder"
        );
    }

    /// Regression: a worker's panic turned into an empty result list, and the zip that
    /// paired files with parses then shifted every later file onto the wrong parse.
    #[test]
    fn a_panic_is_its_own_item_s_error_and_shifts_nothing() {
        let items: Vec<u32> = (0..100).collect();
        for threads in [1, 2, 7] {
            let results = parallel_map(&items, threads, |&i| {
                if i % 13 == 5 {
                    panic!("item {i} fails");
                }
                i * 10
            });
            assert_eq!(results.len(), items.len());
            for (i, result) in results.iter().enumerate() {
                if i % 13 == 5 {
                    assert_eq!(result, &Err(Panicked(format!("item {i} fails"))));
                } else {
                    assert_eq!(result, &Ok(i as u32 * 10));
                }
            }
        }
    }
}
