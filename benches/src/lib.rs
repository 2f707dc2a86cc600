//! Workloads shared by masu's demo and benchmark programs.
//!
//! * [`Subject`]: an allocator under test, behind one small interface;
//!   [`subjects`] has masu-core over a fixed region, `linked_list_allocator`
//!   over an equal region, and the system allocator.
//! * [`Dist`]: a deterministic mixed-size workload (the "dist" shape of the
//!   design brief) that writes every block it gets, checks it when it frees or
//!   reallocates it, and folds what it read into a checksum that must be the
//!   same on every correct allocator.
//! * [`work`]: the workload programs of the benchmark runner (`masu-bench`),
//!   each run in a child process with the allocator under test.

use core::alloc::Layout;

pub mod subjects;
pub mod work;

/// An allocator under test.
pub trait Subject {
    /// Allocates a block for `layout`; null when out of memory.
    fn alloc(&mut self, layout: Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    /// `ptr` came from this subject's `alloc` or `realloc` with `layout` and
    /// is not used afterwards.
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout);

    /// Resizes a block, keeping its first `min(layout.size(), new_size)`
    /// bytes; null (block untouched) when out of memory.
    ///
    /// # Safety
    /// As for [`Subject::dealloc`]; `new_size` rounded up to `layout.align()`
    /// does not overflow `isize`.
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8;

    /// What the subject holds now, where it can tell. Sampled by the
    /// workload every [`SAMPLE_EVERY`] operations.
    fn footprint(&self) -> Footprint {
        Footprint::default()
    }

    /// Called once after the operation loop, before the remaining blocks are
    /// freed: the moment the working set is at its steady size.
    fn checkpoint(&mut self) {}
}

/// Memory an allocator holds at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes taken from the backing memory (segments, mappings).
    pub reserved: Option<usize>,
    /// Bytes in blocks handed out, as the allocator counts them.
    pub in_use: Option<usize>,
}

/// Operations between two footprint samples.
pub const SAMPLE_EVERY: u64 = 64;

/// The one pseudo-random generator of masu's tests, benchmarks and
/// workloads: `fastrand`'s (wyrand), deterministic from a seed
/// (`Rng::with_seed`), no allocation.
pub use fastrand::Rng;

/// The mixed-size workload: `ops` operations on `slots` slots.
///
/// Each operation picks a slot at random. An empty slot gets a new block
/// (80 % of sizes in 16–256 B, 15 % in 257–2048 B, 5 % in 2049–32768 B;
/// alignment 8, sometimes 16 or 64), filled with the slot's tag byte. A
/// filled slot is freed, or one time in eight reallocated the way a growing
/// `Vec` is (doubled, or halved once at 32 KiB). Before a block is freed or
/// reallocated its bytes are probed against the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dist {
    /// Operations (allocations, frees and reallocations) in the loop.
    pub ops: u64,
    /// Slots in the working set.
    pub slots: usize,
    /// PRNG seed.
    pub seed: u64,
}

/// Largest block the workload asks for.
pub const MAX_SIZE: usize = 32 << 10;

/// What one run of a workload saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Folded from the sizes, tags and probed contents of every block freed:
    /// the same for every correct allocator.
    pub checksum: u64,
    /// Operations done, the final frees included.
    pub ops: u64,
    /// Allocations asked for.
    pub allocs: u64,
    /// Blocks freed.
    pub frees: u64,
    /// Reallocations asked for.
    pub reallocs: u64,
    /// Allocations or reallocations that returned null.
    pub oom: u64,
    /// Probes that did not read back what was written (must be 0).
    pub corrupt: u64,
    /// Misaligned blocks handed out (must be 0).
    pub misaligned: u64,
    /// Highest sum of requested sizes of live blocks (exact).
    pub peak_requested: usize,
    /// Highest sampled [`Footprint::reserved`].
    pub peak_reserved: Option<usize>,
    /// Highest sampled [`Footprint::in_use`].
    pub peak_in_use: Option<usize>,
}

impl Outcome {
    /// True when nothing went wrong: no null return, no bad probe, no
    /// misaligned block.
    pub fn is_clean(&self) -> bool {
        self.oom == 0 && self.corrupt == 0 && self.misaligned == 0
    }
}

#[derive(Clone, Copy)]
struct Slot {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

/// Folds `v` into `h` (FNV-1a style on 64-bit words).
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x0000_0100_0000_01b3)
}

impl Dist {
    /// The workload of the demo: 2 million operations on 400 slots.
    pub const DEMO: Dist = Dist {
        ops: 2_000_000,
        slots: 400,
        seed: 0x6d61_7375_6465_6d6f,
    };

    fn size(rng: &mut Rng) -> usize {
        let r = rng.u64(..100);
        let (lo, hi) = if r < 80 {
            (16, 256)
        } else if r < 95 {
            (257, 2048)
        } else {
            (2049, MAX_SIZE)
        };
        lo + rng.u64(..(hi - lo + 1) as u64) as usize
    }

    fn align(rng: &mut Rng) -> usize {
        match rng.u64(..32) {
            0 => 64,
            1 | 2 => 16,
            _ => 8,
        }
    }

    /// Reads the probe bytes of `len` bytes at `ptr`, counting those that are
    /// not `tag`, and folds them into `h`.
    ///
    /// # Safety
    /// `ptr` is valid for reads of `len > 0` bytes.
    unsafe fn probe(ptr: *const u8, len: usize, tag: u8, h: &mut u64, corrupt: &mut u64) {
        for off in [0, len / 2, len - 1] {
            // SAFETY: `off < len`, guaranteed by the caller.
            let b = unsafe { ptr.add(off).read() };
            if b != tag {
                *corrupt += 1;
            }
            *h = mix(*h, b as u64);
        }
    }

    /// Runs the workload on `subject`, freeing every block it still holds at
    /// the end.
    pub fn run<S: Subject + ?Sized>(&self, subject: &mut S) -> Outcome {
        let mut rng = Rng::with_seed(self.seed);
        let mut slots: Vec<Option<Slot>> = vec![None; self.slots];
        let mut out = Outcome {
            checksum: 0xcbf2_9ce4_8422_2325,
            ..Outcome::default()
        };
        let mut requested = 0usize;
        for op in 0..self.ops {
            let i = rng.u64(..self.slots as u64) as usize;
            match slots[i] {
                None => {
                    let size = Self::size(&mut rng);
                    let layout = Layout::from_size_align(size, Self::align(&mut rng)).unwrap();
                    let tag = (rng.u64(..) | 1) as u8;
                    out.allocs += 1;
                    let ptr = subject.alloc(layout);
                    if ptr.is_null() {
                        out.oom += 1;
                        continue;
                    }
                    if !(ptr as usize).is_multiple_of(layout.align()) {
                        out.misaligned += 1;
                    }
                    // SAFETY: a fresh block of `size` bytes.
                    unsafe { ptr.write_bytes(tag, size) };
                    requested += size;
                    out.peak_requested = out.peak_requested.max(requested);
                    slots[i] = Some(Slot { ptr, layout, tag });
                }
                Some(slot) if rng.u64(..8) == 0 => {
                    let old = slot.layout.size();
                    let new = if old * 2 <= MAX_SIZE {
                        old * 2
                    } else {
                        old / 2
                    };
                    out.reallocs += 1;
                    // SAFETY: the slot's block is live with this layout.
                    let ptr = unsafe { subject.realloc(slot.ptr, slot.layout, new) };
                    if ptr.is_null() {
                        out.oom += 1;
                        continue;
                    }
                    if !(ptr as usize).is_multiple_of(slot.layout.align()) {
                        out.misaligned += 1;
                    }
                    // SAFETY: the block holds `new` bytes, the first
                    // `min(old, new)` of them kept from the old block.
                    unsafe {
                        Self::probe(
                            ptr,
                            old.min(new),
                            slot.tag,
                            &mut out.checksum,
                            &mut out.corrupt,
                        );
                        if new > old {
                            ptr.add(old).write_bytes(slot.tag, new - old);
                        }
                    }
                    requested = requested - old + new;
                    out.peak_requested = out.peak_requested.max(requested);
                    let layout = Layout::from_size_align(new, slot.layout.align()).unwrap();
                    slots[i] = Some(Slot {
                        ptr,
                        layout,
                        ..slot
                    });
                }
                Some(slot) => {
                    self.free(subject, slot, &mut out);
                    requested -= slot.layout.size();
                    slots[i] = None;
                }
            }
            if op % SAMPLE_EVERY == 0 {
                let f = subject.footprint();
                out.peak_reserved = max_opt(out.peak_reserved, f.reserved);
                out.peak_in_use = max_opt(out.peak_in_use, f.in_use);
            }
        }
        out.ops = self.ops;
        subject.checkpoint();
        for slot in slots.iter_mut() {
            if let Some(s) = slot.take() {
                self.free(subject, s, &mut out);
                out.ops += 1;
            }
        }
        out
    }

    fn free<S: Subject + ?Sized>(&self, subject: &mut S, slot: Slot, out: &mut Outcome) {
        let size = slot.layout.size();
        out.checksum = mix(out.checksum, size as u64);
        // SAFETY: the slot's block is live, `size` bytes, and freed just after.
        unsafe {
            Self::probe(
                slot.ptr,
                size,
                slot.tag,
                &mut out.checksum,
                &mut out.corrupt,
            );
            subject.dealloc(slot.ptr, slot.layout);
        }
        out.frees += 1;
    }
}

fn max_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::subjects::{leak_region, LinkedList, MasuFixed, System};
    use super::*;
    use masu_core::FixedRegion;

    const SMALL: Dist = Dist {
        ops: 20_000,
        slots: 64,
        seed: 42,
    };

    #[test]
    fn checksums_agree_across_allocators() {
        let region: &'static FixedRegion =
            Box::leak(Box::new(FixedRegion::from_slice(leak_region(8 << 20))));
        let masu = SMALL.run(&mut MasuFixed::new(region));
        let lla = SMALL.run(&mut LinkedList::new(leak_region(8 << 20)));
        let sys = SMALL.run(&mut System);
        for o in [&masu, &lla, &sys] {
            assert!(o.is_clean(), "{o:?}");
            assert_eq!(o.allocs, o.frees, "every block freed: {o:?}");
        }
        assert_eq!(masu.checksum, sys.checksum);
        assert_eq!(lla.checksum, sys.checksum);
        assert_eq!(masu.ops, sys.ops);
        assert!(masu.reallocs > 0 && masu.peak_requested > 0);
        assert!(masu.peak_reserved.unwrap() >= masu.peak_in_use.unwrap());
    }

    #[test]
    fn masu_gives_everything_back_after_the_workload() {
        let region: &'static FixedRegion =
            Box::leak(Box::new(FixedRegion::from_slice(leak_region(8 << 20))));
        let mut masu = MasuFixed::new(region);
        let out = SMALL.run(&mut masu);
        assert!(out.is_clean(), "{out:?}");
        let at = masu.at_checkpoint.expect("checkpoint taken");
        assert!(at.live_bytes > 0 && at.segments > 0, "{at:?}");
        let end = masu.heap.stats();
        assert_eq!(end.live_bytes, 0, "{end:?}");
        assert_eq!(end.alloc_count, end.free_count, "{end:?}");
        drop(masu);
        assert_eq!(region.free_bytes(), region.size(), "region whole again");
    }

    /// A broken allocator: `realloc` hands out a new block without copying.
    struct NoCopyRealloc(System);

    impl Subject for NoCopyRealloc {
        fn alloc(&mut self, layout: Layout) -> *mut u8 {
            self.0.alloc(layout)
        }
        unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded.
            unsafe { self.0.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = self
                .0
                .alloc(Layout::from_size_align(new_size, layout.align()).unwrap());
            // SAFETY: `new` is fresh with `new_size` bytes; `ptr` is freed.
            unsafe {
                new.write_bytes(0, new_size);
                self.0.dealloc(ptr, layout);
            }
            new
        }
    }

    #[test]
    fn the_workload_notices_lost_contents() {
        let good = SMALL.run(&mut System);
        let bad = SMALL.run(&mut NoCopyRealloc(System));
        assert_eq!(good.corrupt, 0);
        assert!(bad.corrupt > 0, "{bad:?}");
        assert_ne!(good.checksum, bad.checksum);
    }

    #[test]
    fn size_mix_follows_the_dist_shape() {
        let mut rng = Rng::with_seed(7);
        let n = 100_000;
        let (mut small, mut medium, mut large) = (0, 0, 0);
        for _ in 0..n {
            match Dist::size(&mut rng) {
                16..=256 => small += 1,
                257..=2048 => medium += 1,
                2049..=MAX_SIZE => large += 1,
                s => panic!("size {s} out of range"),
            }
        }
        // 80 / 15 / 5 %, within one percentage point.
        assert!((79_000..81_000).contains(&small), "{small}");
        assert!((14_000..16_000).contains(&medium), "{medium}");
        assert!((4_000..6_000).contains(&large), "{large}");
    }
}
