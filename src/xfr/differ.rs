//! What a zone's change means for its secondaries — the difference kept for IXFR, then
//! a NOTIFY — done on a thread of its own. A difference is linear in the zone's size
//! (half a minute on 10M entries): made on the reload thread, it held back every other
//! zone's reload for as long. Here the reload thread only queues the change.
//!
//! Changes are taken in the order they came, so a zone's journal stays a chain. A zone
//! that changes again before its difference was started is compared once, from the
//! version before the first change to the newest: one difference instead of a queue
//! of old versions held in memory.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::Transfers;
use super::notify;
use crate::zone::Zone;
use crate::zone::name::Name;

/// Changes waiting for their difference: per zone, the version secondaries may hold
/// and the newest.
type Waiting = HashMap<Name, (Arc<Zone>, Arc<Zone>)>;

/// What a reload does for transfers. The thread ends once the reloader (and with it
/// this callback) is gone and the changes queued before are done.
pub(crate) fn on_change(
    transfers: Arc<Transfers>,
    runtime: tokio::runtime::Handle,
) -> impl Fn(Option<&Arc<Zone>>, &Arc<Zone>) + Send + Sync + 'static {
    let waiting: Arc<Mutex<Waiting>> = Arc::default();
    let (queue, queued) = mpsc::channel::<Name>();
    let follow = {
        let transfers = transfers.clone();
        let runtime = runtime.clone();
        move |old: &Zone, new: &Zone| {
            // A bug here costs this difference (a full transfer instead), not the
            // thread: later changes are still kept and notified.
            let kept = catch_unwind(AssertUnwindSafe(|| transfers.record_change(old, new)));
            if kept.is_err() {
                tracing::error!(zone = %new.name, "the IXFR difference failed with an internal error; secondaries get a full transfer");
            }
            let _entered = runtime.enter();
            notify::notify_all(&transfers, &new.name, &new.soa);
        }
    };
    let worker = {
        let (waiting, follow) = (waiting.clone(), follow.clone());
        move || {
            for zone in queued {
                let change = waiting.lock().ok().and_then(|mut w| w.remove(&zone));
                if let Some((old, new)) = change {
                    follow(&old, &new);
                }
            }
        }
    };
    let spawned = std::thread::Builder::new()
        .name("ward-journal".into())
        .spawn(worker);
    if let Err(error) = &spawned {
        tracing::error!(%error, "cannot start the journal thread; differences are made on the reload thread");
    }
    let worker_running = spawned.is_ok();
    move |old: Option<&Arc<Zone>>, new: &Arc<Zone>| {
        let Some(old) = old else {
            // A new zone: nothing to compare, secondaries are told at once.
            let _entered = runtime.enter();
            notify::notify_all(&transfers, &new.name, &new.soa);
            return;
        };
        if !worker_running {
            follow(old, new);
            return;
        }
        let Ok(mut waiting) = waiting.lock() else {
            return;
        };
        match waiting.get_mut(&new.name) {
            Some((_, newest)) => *newest = new.clone(),
            None => {
                waiting.insert(new.name.clone(), (old.clone(), new.clone()));
                let _ = queue.send(new.name.clone());
            }
        }
    }
}
