//! Random operation sequences against a model of live blocks: no overlap,
//! alignment honoured, contents preserved across realloc, zeroed memory is
//! zero, stats agree with the model, and freeing everything gives the whole
//! region back.

#[macro_use]
mod common;

use common::{fill, verify, Rng, VmLikeOs};
use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap, Os};
use std::collections::BTreeMap;

struct Live {
    layout: Layout,
    /// The bytes the block takes (`Heap::block_size`).
    usable: usize,
    id: u64,
}

struct Model {
    /// start address -> block
    blocks: BTreeMap<usize, Live>,
    allocs: u64,
    frees: u64,
    next_id: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            blocks: BTreeMap::new(),
            allocs: 0,
            frees: 0,
            next_id: 1,
        }
    }

    /// Records a new block, checking it overlaps no live block.
    fn insert(&mut self, p: *mut u8, layout: Layout, usable: usize) -> u64 {
        let a = p as usize;
        assert!(
            usable >= layout.size(),
            "usable {usable} < requested {}",
            layout.size()
        );
        assert_eq!(
            a % layout.align(),
            0,
            "{p:?} not aligned to {}",
            layout.align()
        );
        if let Some((&s, b)) = self.blocks.range(..=a).next_back() {
            assert!(
                s + b.usable <= a,
                "{a:#x} overlaps block at {s:#x}+{}",
                b.usable
            );
        }
        if let Some((&s, _)) = self.blocks.range(a..).next() {
            assert!(a + usable <= s, "{a:#x}+{usable} overlaps block at {s:#x}");
        }
        let id = self.next_id;
        self.next_id += 1;
        self.blocks.insert(a, Live { layout, usable, id });
        self.allocs += 1;
        id
    }

    /// What the statistics count: the live blocks' whole sizes.
    fn block_bytes(&self) -> usize {
        self.blocks.values().map(|b| b.usable).sum()
    }
}

/// Picks a request size: mostly small, some medium and large, a few huge.
fn pick_size(rng: &mut Rng, max_huge: usize) -> usize {
    match rng.usize(0..=99) {
        0..=64 => rng.usize(0..=256),
        65..=84 => rng.usize(257..=8192),
        85..=95 => rng.usize(8193..=128 << 10),
        _ => rng.usize(128 << 10..=max_huge),
    }
}

fn pick_align(rng: &mut Rng, max_align: usize) -> usize {
    match rng.usize(0..=99) {
        0..=79 => 8,
        80..=94 => 1 << rng.usize(0..=12),
        _ => 1 << rng.usize(12..=max_align.trailing_zeros() as usize),
    }
}

/// The heap's own invariants (see `Heap::check_invariants`), then its
/// statistics against the model.
fn check_stats<O: Os>(heap: &Heap<O>, model: &Model) {
    heap.assert_valid();
    let s = heap.stats();
    assert!(s.committed_bytes <= s.reserved_bytes);
    if !cfg!(feature = "stats") {
        return;
    }
    assert_eq!(
        s.live_bytes,
        model.block_bytes(),
        "stats live bytes disagree with the model"
    );
    assert_counted!(s.alloc_count, model.allocs, "alloc count");
    assert_counted!(s.free_count, model.frees, "free count");
    assert!(s.peak_live_bytes >= s.live_bytes);
    assert!(s.committed_bytes <= s.reserved_bytes);
}

fn run<O: Os>(
    heap: &mut Heap<O>,
    seed: u64,
    ops: usize,
    max_huge: usize,
    max_align: usize,
) -> usize {
    let mut rng = Rng::with_seed(seed);
    let mut model = Model::new();
    let mut nulls = 0;
    for step in 0..ops {
        let op = rng.usize(0..=99);
        if op < 45 || model.blocks.is_empty() {
            let layout = Layout::from_size_align(
                pick_size(&mut rng, max_huge),
                pick_align(&mut rng, max_align),
            )
            .unwrap();
            let zero = rng.u64(..100) < 25;
            let p = if zero {
                heap.alloc_zeroed(layout)
            } else {
                heap.alloc(layout)
            };
            if p.is_null() {
                nulls += 1;
                continue;
            }
            // SAFETY: `p` is a live block of this heap.
            let usable = unsafe { heap.block_size(p) };
            if zero {
                for off in 0..layout.size() {
                    // SAFETY: the block has `layout.size()` bytes.
                    let byte = unsafe { *p.add(off) };
                    assert_eq!(byte, 0, "alloc_zeroed byte {off} of {layout:?} not zero");
                }
            }
            let id = model.insert(p, layout, usable);
            // SAFETY: the block has `layout.size()` bytes.
            unsafe { fill(p, layout.size(), id) };
        } else if op < 60 {
            let n = rng.usize(0..=model.blocks.len() - 1);
            let (&a, _) = model.blocks.iter().nth(n).unwrap();
            let old = model.blocks.remove(&a).unwrap();
            let new_size = if rng.u64(..100) < 50 {
                // shrink or stay
                rng.usize(0..=old.layout.size())
            } else {
                pick_size(&mut rng, max_huge)
            };
            // SAFETY: `a` is live with `old.layout`.
            let p = unsafe { heap.realloc(a as *mut u8, old.layout, new_size) };
            if p.is_null() {
                nulls += 1;
                // SAFETY: the old block is untouched on failure.
                unsafe { verify(a as *const u8, old.layout.size(), old.id) };
                model.blocks.insert(a, old);
                continue;
            }
            let kept = old.layout.size().min(new_size);
            // SAFETY: the new block holds `new_size >= kept` bytes.
            unsafe { verify(p, kept, old.id) };
            let layout = Layout::from_size_align(new_size, old.layout.align()).unwrap();
            // SAFETY: `p` is live.
            let usable = unsafe { heap.block_size(p) };
            if p as usize != a {
                model.frees += 1;
                model.insert(p, layout, usable);
                let id = model.next_id - 1;
                model.blocks.get_mut(&(p as usize)).unwrap().id = id;
                // SAFETY: the block has `new_size` bytes.
                unsafe { fill(p, new_size, id) };
            } else {
                let id = model.next_id;
                model.next_id += 1;
                model.blocks.insert(a, Live { layout, usable, id });
                // SAFETY: as above.
                unsafe { fill(p, new_size, id) };
                // re-insert does not count as an alloc; the model's neighbours
                // are checked by the next insert near it.
            }
        } else if op < 98 {
            let n = rng.usize(0..=model.blocks.len() - 1);
            let (&a, _) = model.blocks.iter().nth(n).unwrap();
            let b = model.blocks.remove(&a).unwrap();
            // SAFETY: `a` is live with `b.layout`.
            unsafe {
                verify(a as *const u8, b.layout.size(), b.id);
                heap.dealloc(a as *mut u8, b.layout);
            }
            model.frees += 1;
        } else {
            heap.collect(rng.u64(..100) < 50);
        }
        if step % 64 == 0 {
            check_stats(heap, &model);
        }
    }
    check_stats(heap, &model);
    // Free everything; the heap must come back to empty.
    for (a, b) in std::mem::take(&mut model.blocks) {
        // SAFETY: every model block is live with its layout.
        unsafe {
            verify(a as *const u8, b.layout.size(), b.id);
            heap.dealloc(a as *mut u8, b.layout);
        }
        model.frees += 1;
    }
    check_stats(heap, &model);
    let s = heap.stats();
    assert_counted!(s.live_bytes, 0);
    heap.collect(true);
    heap.assert_valid();
    let s = heap.stats();
    assert_eq!(
        s.reserved_bytes, 0,
        "memory still reserved after freeing all: {s:?}"
    );
    assert_eq!(s.committed_bytes, 0);
    assert_eq!(s.segments, 0);
    assert_eq!(s.large_spans + s.huge_allocs, 0);
    assert!(s.pages_per_class.iter().all(|&n| n == 0));
    nulls
}

#[test]
fn random_ops_on_a_fixed_region() {
    // Fewer, shorter and smaller runs under miri (see `common::scaled`).
    for seed in 1..=common::scaled(4, 1) as u64 {
        // Under miri every byte of the region is tracked: 8 MiB, not 64.
        let region = common::region(common::scaled(64 << 20, 8 << 20));
        let bottom = region.as_ptr() as usize;
        let os = FixedRegion::from_slice(region);
        let initial_free = os.free_bytes();
        let mut heap = Heap::new(os, Config::FIXED_REGION);
        let nulls = run(
            &mut heap,
            seed,
            common::scaled(6000, 40),
            common::scaled(2 << 20, 256 << 10),
            1 << 20,
        );
        assert!(nulls < 20, "{nulls} allocations failed in a 64 MiB region");
        assert_eq!(
            heap.os().free_bytes(),
            initial_free,
            "region not whole again"
        );
        // `FixedRegion::init` trims the region to 16-byte boundaries.
        assert_eq!(heap.os().bottom() as usize, (bottom + 15) & !15);
    }
}

#[test]
fn random_ops_on_small_segments() {
    for seed in 10..=9 + common::scaled(3, 1) as u64 {
        let os = FixedRegion::from_slice(common::region(common::scaled(16 << 20, 4 << 20)));
        let initial_free = os.free_bytes();
        let mut heap = Heap::new(os, Config::SMALL_REGION);
        run(
            &mut heap,
            seed,
            common::scaled(4000, 150),
            256 << 10,
            64 << 10,
        );
        assert_eq!(heap.os().free_bytes(), initial_free);
    }
}

#[test]
fn random_ops_with_virtual_memory_geometry_and_purging() {
    for (seed, delay) in [(20, 0), (21, 5), (22, u32::MAX)] {
        let os = VmLikeOs::new(common::scaled(96 << 20, 24 << 20));
        let initial_free = os.free_bytes();
        let config = Config::VIRTUAL_MEMORY
            .with_purge_delay(delay)
            .with_segment_cache(2, 16 << 20);
        let mut heap = Heap::new(os, config);
        run(
            &mut heap,
            seed,
            common::scaled(5000, 150),
            common::scaled(6 << 20, 256 << 10),
            common::scaled(8 << 20, 1 << 20),
        );
        drop(heap);
        assert_eq!(os.free_bytes(), initial_free);
    }
}

#[test]
fn random_ops_with_purge_at_once_decommits() {
    let os = VmLikeOs::new(common::scaled(64 << 20, 16 << 20));
    let mut heap = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(0));
    run(
        &mut heap,
        30,
        common::scaled(3000, 150),
        common::scaled(1 << 20, 256 << 10),
        4096,
    );
    assert!(
        heap.stats().decommitted_bytes > 0,
        "purge delay 0 never decommitted"
    );
    assert!(os.decommits.load(std::sync::atomic::Ordering::Relaxed) > 0);
}
