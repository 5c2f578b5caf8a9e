//! Work spread over the cores, results kept in order, and a panic kept to the one item
//! that caused it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let run = |item: &T| {
        catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|payload| {
            Panicked(
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string()),
            )
        })
    };
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

/// One thread per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

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
