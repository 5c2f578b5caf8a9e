//! Where ward's memory lives and when it goes back to the system: the glibc tuning and
//! the kernel hints (huge pages, prefetch) the indexes use. The platform-specific calls
//! are all here, each behind the `cfg` it needs, with a plain fallback elsewhere.
#![allow(unsafe_code)]

/// Makes glibc serve large allocations (index vectors, read buffers) from their own
/// mappings, returned to the system when freed: otherwise its threshold for that grows
/// with the first large free, and a reload leaves RSS several times the zone's size.
pub(crate) fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tuning parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Gives memory freed by a load or reload back to the system: glibc keeps it otherwise,
/// and a reload frees about as much as the zone it replaced, plus the parse buffers.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Asks the CPU to start loading `value`'s cache line; never faults, never waits.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing into the program and cannot fault.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Copies a vector into memory of exactly its size, on 2 MB pages where it is large
/// enough (THP in `madvise` mode): lookups jump around megabytes of index, and in a
/// virtual machine every TLB miss is a nested page walk. A 1M-entry list reads two
/// such vectors of 4 MB each.
pub(crate) fn on_huge_pages<T: Copy>(mut v: Vec<T>) -> Vec<T> {
    if std::mem::size_of_val(v.as_slice()) < HUGE_PAGE {
        v.shrink_to_fit();
        return v;
    }
    copy_on_huge_pages(&v)
}

const HUGE_PAGE: usize = 2 << 20;

/// A copy of `items` on 2 MB pages where it is large enough (see [`on_huge_pages`]):
/// also for a vector about to be written all over.
pub(crate) fn copy_on_huge_pages<T: Copy>(items: &[T]) -> Vec<T> {
    let bytes = std::mem::size_of_val(items);
    if bytes < HUGE_PAGE {
        return items.to_vec();
    }
    // Room to start the data's huge pages on a 2 MB boundary; the slack past the data is
    // never touched, so it costs address space, not memory.
    let slack = HUGE_PAGE / std::mem::size_of::<T>().max(1);
    let mut moved: Vec<T> = Vec::with_capacity(items.len() + slack);
    let start = moved.as_ptr() as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let end = (start + bytes).next_multiple_of(HUGE_PAGE);
    #[cfg(target_os = "linux")]
    // SAFETY: [aligned, end) lies inside `moved`'s allocation (it has `slack` more than
    // `bytes`), which nothing has touched yet; madvise only changes how the kernel backs it.
    unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            end - aligned,
            libc::MADV_HUGEPAGE,
        );
    }
    moved.extend_from_slice(items);
    moved
}
