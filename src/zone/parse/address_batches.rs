//! The listed addresses of a file, added in batches whose names and digests are made on
//! the other cores while the parse reads on: two names and six digests an address are
//! most of what a big address list costs to load.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::parallel::{SharedWork, cores};
use crate::zone::dataset::DatasetBuilder;
use crate::zone::email::PreparedAddresses;
use crate::zone::ip::Listing;
use crate::zone::name::WarmStep;

/// Addresses prepared together (about 20 MB of names and digests at most, two batches
/// at a time), in pieces of [`CHUNK`] for the cores to share. Deeper queues of smaller
/// batches measured slower: what the parse thread adds had left its cache by then.
const BATCH: usize = 1 << 16;
const IN_FLIGHT: usize = 1;
const CHUNK: usize = 1 << 11;

/// Addresses read and not yet added: their texts one after another (no allocation an
/// address), with their listings. A batch's buffers come back with its prepared names
/// and digests, to hold a later batch.
#[derive(Default)]
struct Batch {
    text: String,
    ends: Vec<usize>,
    listings: Vec<Listing>,
}

impl Batch {
    fn len(&self) -> usize {
        self.listings.len()
    }

    fn push(&mut self, address: &str, listing: Listing) {
        self.text.push_str(address);
        self.ends.push(self.text.len());
        self.listings.push(listing);
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.listings.clear();
    }

    /// The addresses `range` (by position in the batch), with their listings.
    fn addresses(&self, range: Range<usize>) -> impl Iterator<Item = (&str, Listing)> {
        let start = range
            .start
            .checked_sub(1)
            .map_or(0, |before| self.ends[before]);
        let starts = std::iter::once(start).chain(self.ends[range.clone()].iter().copied());
        starts
            .zip(&self.ends[range.clone()])
            .zip(&self.listings[range])
            .map(|((start, &end), &listing)| (&self.text[start..end], listing))
    }
}

/// How a file's addresses are prepared: forms and whole digests asked for, and the
/// size of the pieces the cores share.
#[derive(Clone, Copy)]
struct Preparation {
    normalised: bool,
    full_digests: bool,
    chunk: usize,
}

/// A batch to prepare, in pieces any thread may take.
struct Job {
    batch: Batch,
    chunks: Vec<Range<usize>>,
    preparation: Preparation,
}

type SharedJob = Arc<SharedWork<Job, PreparedAddresses>>;

impl Job {
    fn shared(batch: Batch, preparation: Preparation) -> SharedJob {
        let chunk = preparation.chunk.max(1);
        let chunks: Vec<Range<usize>> = (0..batch.len())
            .step_by(chunk)
            .map(|start| start..(start + chunk).min(batch.len()))
            .collect();
        let count = chunks.len();
        let job = Job {
            batch,
            chunks,
            preparation,
        };
        Arc::new(SharedWork::new(job, count, Job::prepare))
    }

    fn prepare(&self, chunk: usize) -> PreparedAddresses {
        PreparedAddresses::of(
            self.batch.addresses(self.chunks[chunk].clone()),
            self.preparation.normalised,
            self.preparation.full_digests,
        )
    }
}

pub(super) struct AddressBatches {
    pending: Batch,
    /// Buffers of batches already added, for the next ones.
    spares: Vec<Batch>,
    /// [`BATCH`], smaller in tests.
    batch: usize,
    chunk: usize,
    normalised: bool,
    /// Threads that prepare batches beside the parse (none on one core).
    helpers: usize,
    helper_threads: Option<Helpers>,
    /// Batches handed out and not yet added, oldest first.
    in_flight: VecDeque<SharedJob>,
}

/// Threads taking pieces of every batch handed out, in the order they are handed out.
struct Helpers {
    jobs: Vec<SyncSender<SharedJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl AddressBatches {
    pub(super) fn new(normalised: bool) -> Self {
        Self::with_sizes(normalised, BATCH, CHUNK, cores().saturating_sub(1))
    }

    fn with_sizes(normalised: bool, batch: usize, chunk: usize, helpers: usize) -> Self {
        AddressBatches {
            pending: Batch::default(),
            spares: Vec::new(),
            batch,
            chunk,
            normalised,
            helpers,
            helper_threads: None,
            in_flight: VecDeque::new(),
        }
    }

    pub(super) fn push(&mut self, address: &str, listing: Listing, builder: &mut DatasetBuilder) {
        self.pending.push(address, listing);
        if self.pending.len() >= self.batch {
            let next = self.spares.pop().unwrap_or_default();
            let batch = std::mem::replace(&mut self.pending, next);
            self.send(batch, builder);
        }
    }

    /// Adds every address pushed so far.
    pub(super) fn finish(&mut self, builder: &mut DatasetBuilder) {
        let batch = std::mem::take(&mut self.pending);
        if batch.len() > 0 {
            self.send(batch, builder);
        }
        while !self.in_flight.is_empty() {
            self.add_oldest(builder);
        }
    }

    fn preparation(&self, builder: &DatasetBuilder) -> Preparation {
        Preparation {
            normalised: self.normalised,
            full_digests: builder.digests.keeps_full(),
            chunk: self.chunk,
        }
    }

    /// Hands `batch` to the helpers and adds the batch before it, helping with what of
    /// it is left: the helpers prepare one batch while this thread parses the next, and
    /// neither waits for the other.
    fn send(&mut self, batch: Batch, builder: &mut DatasetBuilder) {
        let job = Job::shared(batch, self.preparation(builder));
        let mut keep = 0;
        if self.helpers > 0 {
            let helpers = self.helpers;
            let threads = self
                .helper_threads
                .get_or_insert_with(|| Helpers::start(helpers));
            threads.offer(&job);
            keep = IN_FLIGHT;
        }
        self.in_flight.push_back(job);
        while self.in_flight.len() > keep {
            self.add_oldest(builder);
        }
    }

    /// Adds the oldest batch handed out, preparing what no helper took yet. A panic
    /// while preparing is a bug: it is raised again here, failing the file's load as
    /// it would have without helpers.
    fn add_oldest(&mut self, builder: &mut DatasetBuilder) {
        let Some(job) = self.in_flight.pop_front() else {
            return;
        };
        let (prepared, job) = job.finish();
        let prepared: Vec<PreparedAddresses> = prepared
            .into_iter()
            .map(|prepared| prepared.unwrap_or_else(|panicked| std::panic::panic_any(panicked.0)))
            .collect();
        add(builder, prepared);
        if let Some(mut job) = job {
            job.batch.clear();
            self.spares.push(job.batch);
        }
    }
}

impl Helpers {
    /// Up to `count` threads; fewer (even none) if the system has no more to give,
    /// and the parse thread does their share.
    fn start(count: usize) -> Self {
        let mut helpers = Helpers {
            jobs: Vec::new(),
            threads: Vec::new(),
        };
        for _ in 0..count {
            let (jobs, jobs_in) = sync_channel::<SharedJob>(IN_FLIGHT + 1);
            let thread = std::thread::Builder::new()
                .name("ward-addresses".into())
                .spawn(move || {
                    for job in jobs_in {
                        job.work();
                    }
                });
            if let Ok(thread) = thread {
                helpers.jobs.push(jobs);
                helpers.threads.push(thread);
            }
        }
        helpers
    }

    /// Offers `job` to every helper; one whose queue is full (or that is gone) leaves
    /// its share to the others and the parse thread.
    fn offer(&self, job: &SharedJob) {
        for helper in &self.jobs {
            let _ = helper.try_send(job.clone());
        }
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        // Ends the helpers once they have done what they hold (of a parse that failed).
        self.jobs.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// How many names apart the steps of warming a parent's lookup run: far enough for a
/// cache miss to be over by the next step, near enough that the warmed lines stay.
const WARM_AHEAD: usize = 8;

fn add(builder: &mut DatasetBuilder, prepared: Vec<PreparedAddresses>) {
    let steps = [
        (3 * WARM_AHEAD, WarmStep::Index),
        (2 * WARM_AHEAD, WarmStep::Slot),
        (WARM_AHEAD, WarmStep::Name),
    ];
    for mut prepared in prepared {
        for (i, name) in prepared.names.iter().enumerate() {
            for (ahead, step) in steps {
                if let Some(next) = prepared.names.get(i + ahead) {
                    builder.names.warm_address_name(next.hashes, step);
                }
            }
            builder.names.add_address_name(
                prepared.wire(name),
                name.hashes,
                name.local_is_one_label,
                name.listing,
            );
        }
        builder.digests.add_prepared(&mut prepared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::DatasetKind;
    use crate::zone::email::DigestKind;
    use crate::zone::name::{Name, NameBuf};
    use crate::zone::name_index::NameMatch;

    fn addresses() -> Vec<(String, Listing)> {
        (0..500u32)
            .map(|i| {
                let address = match i % 4 {
                    0 => format!("user{i}@example.org"),
                    1 => format!("first.last{}@Example.NET", i % 50),
                    2 => format!("u.{i}+tag@gmail.com"),
                    _ => format!("x{}@sub{}.example.org", i % 7, i % 3),
                };
                let listing = if i % 97 == 3 {
                    Listing::Excluded
                } else {
                    Listing::Value(i % 5)
                };
                (address, listing)
            })
            .collect()
    }

    /// The dataset the addresses make, and how many digests went into it.
    fn build(batches: &mut AddressBatches, fingerprints: bool) -> (crate::zone::Dataset, usize) {
        let mut builder = DatasetBuilder::new(
            std::path::Path::new("t").into(),
            DatasetKind::Ward,
            vec![Name::root()],
        );
        if fingerprints {
            builder.names.fingerprint_address_names();
        }
        for (address, listing) in addresses() {
            batches.push(&address, listing, &mut builder);
        }
        batches.finish(&mut builder);
        let digests = builder.digests.len();
        (builder.finish(300).dataset, digests)
    }

    /// Batches prepared by the helper (many small ones, several in flight), or on the
    /// parse thread when there is no other core, add exactly what one batch prepared on
    /// the parse thread adds, names and digests, each once.
    #[test]
    fn batches_on_a_helper_add_what_one_batch_adds() {
        for (fingerprints, helpers) in [(false, 1), (true, 1), (true, 0), (true, 3)] {
            let (one, digests) = build(
                &mut AddressBatches::with_sizes(true, usize::MAX, 1 << 20, 0),
                fingerprints,
            );
            let mut small = AddressBatches::with_sizes(true, 7, 3, helpers);
            let (many, many_digests) = build(&mut small, fingerprints);
            assert_eq!(
                small.helper_threads.is_some(),
                helpers > 0,
                "{helpers} helpers"
            );
            assert_eq!(many_digests, digests, "each address's digests added once");
            let mut asked = 0;
            for (address, _) in addresses() {
                let (local, domain) = address.rsplit_once('@').unwrap();
                let mut names = vec![
                    format!("{local}.{domain}"),
                    format!("{}.{domain}", local.replace('.', "-")),
                ];
                names.push(domain.to_string());
                for name in names {
                    let name = NameBuf::from_name(&Name::parse(&name).unwrap());
                    let found = one.names.lookup(name.view());
                    assert_eq!(found, many.names.lookup(name.view()), "{address}");
                    asked += usize::from(matches!(found, NameMatch::Listed { .. }));
                }
                let lower = address.to_ascii_lowercase();
                for kind in DigestKind::ALL {
                    let label = kind.query_label(&kind.digest(lower.as_bytes()));
                    let name = NameBuf::from_name(&Name::parse(&label).unwrap());
                    let found = one.digests.lookup(name.view());
                    assert_eq!(found, many.digests.lookup(name.view()), "{address} {label}");
                    asked += usize::from(found.is_some());
                }
            }
            assert!(asked > 2000, "{asked} listed answers compared");
        }
    }
}
