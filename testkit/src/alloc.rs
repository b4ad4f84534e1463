//! [`CountingAllocator`]: a global allocator that measures peak heap use, so
//! a test can prove that a length field read from input never sizes an
//! allocation ("a frame claiming 4 GiB allocates 4 GiB" is a denial of
//! service even when the decoder then fails cleanly).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, MutexGuard,
    },
};

/// The system allocator, counting live and peak bytes.
///
/// Install it in a test binary and measure a closure:
///
/// ```
/// use rustok_iggy_testkit::alloc::CountingAllocator;
///
/// #[global_allocator]
/// static HEAP: CountingAllocator = CountingAllocator::new();
///
/// let _only_me = HEAP.exclusive();
/// let (_, peak) = HEAP.measure(|| vec![0u8; 1 << 20]);
/// assert!(peak >= 1 << 20);
/// ```
///
/// Counts are process-wide: allocations of other threads made during a
/// measurement count too. Every test of a binary that measures should
/// therefore hold [`exclusive`](Self::exclusive) for its whole run, so no
/// other test allocates meanwhile.
#[derive(Debug)]
pub struct CountingAllocator {
    live: AtomicUsize,
    peak: AtomicUsize,
    serial: Mutex<()>,
}

impl CountingAllocator {
    /// A counting allocator with nothing counted yet.
    pub const fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            serial: Mutex::new(()),
        }
    }

    /// A guard that the tests of one binary hold to run one at a time.
    pub fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.serial.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f`; returns its result and the most bytes that were live at
    /// once during it, above what was live when it started.
    pub fn measure<R>(&self, f: impl FnOnce() -> R) -> (R, usize) {
        let base = self.live.load(Ordering::SeqCst);
        self.peak.store(base, Ordering::SeqCst);
        let result = f();
        let peak = self.peak.load(Ordering::SeqCst);
        (result, peak.saturating_sub(base))
    }

    fn grew(&self, bytes: usize) {
        let live = self.live.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(live, Ordering::SeqCst);
    }

    fn shrank(&self, bytes: usize) {
        self.live.fetch_sub(bytes, Ordering::SeqCst);
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only
// observe sizes and never touch the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System.alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size > layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.shrank(layout.size() - new_size);
            }
        }
        new
    }
}
