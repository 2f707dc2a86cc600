//! The `masu` crate's global allocator: arbitrary sequences of alloc /
//! alloc_zeroed / realloc (grow and shrink) / aligned alloc (up to 8 MiB) /
//! dealloc through `GlobalAlloc` on a static `masu::Masu`, with batches of
//! blocks freed by a second, long-lived thread (remote frees into the fuzzing
//! thread's heap), checked against a model of the live blocks and masu's
//! process-wide statistics; then everything freed, the heap collected, and
//! masu must hold no memory at all.
//!
//! masu is *not* installed as this binary's `#[global_allocator]`:
//! libFuzzer and AddressSanitizer own the process allocator. So `Masu` is
//! called only from here (the worker thread's channel and the model use the
//! process allocator), and masu's statistics change only through these
//! calls (see `masu_fuzz::shim`).
//!
//! Every run happens on libFuzzer's thread, which keeps its masu heap from
//! run to run: blocks are carved from memory earlier runs dirtied, which is
//! what `alloc_zeroed` must cope with.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use masu_fuzz::shim::Baseline;
use masu_fuzz::{fill, first_nonzero, verify, Model, MAX_OPS};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

/// The allocator under test (not the global allocator of this binary).
static MASU: masu::Masu = masu::Masu::new();

/// Requests that would take the live blocks past this many usable bytes are
/// skipped (bounds the resident set and the time spent filling).
const MAX_LIVE_BYTES: usize = 64 << 20;

/// Alignments are `2^(align_shift % ALIGN_SHIFTS)`: 1 B to 8 MiB, beyond
/// masu's slice (64 KiB: large spans) and its segment (4 MiB: huge blocks).
const ALIGN_SHIFTS: u8 = 24;

/// A request size, by band. `GlobalAlloc` forbids zero sizes, so a zero
/// becomes 1.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Size {
    /// 1..=255 bytes.
    Tiny(u8),
    /// Up to 4 KiB.
    Small(u16),
    /// Up to 64 KiB (the largest size class).
    Medium(u16),
    /// Up to 2 MiB (large spans).
    Large(u32),
    /// Up to 12 MiB (huge blocks, own segments, some over several 4 MiB
    /// segment sizes).
    Huge(u32),
}

impl Size {
    fn bytes(self) -> usize {
        let n = match self {
            Size::Tiny(n) => n as usize,
            Size::Small(n) => n as usize % 4097,
            Size::Medium(n) => n as usize + 1,
            Size::Large(n) => n as usize % ((2 << 20) + 1),
            Size::Huge(n) => n as usize % ((12 << 20) + 1),
        };
        n.max(1)
    }
}

/// One operation. Block indices pick a live block modulo the number of live
/// blocks (in address order).
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Op {
    /// `alloc`, or `alloc_zeroed` when `zeroed`, aligned to
    /// `2^(align_shift % 24)`.
    Alloc {
        size: Size,
        align_shift: u8,
        zeroed: bool,
    },
    /// `realloc` of a live block to a new size (grow or shrink).
    Realloc { block: u16, size: Size },
    /// `realloc` of a live block to a size at or below its current one.
    Shrink { block: u16, keep_per_mille: u16 },
    /// `dealloc` by the fuzzing thread (the owner).
    Free { block: u16 },
    /// `count % 8 + 1` live blocks handed to the worker thread, which checks
    /// their contents and deallocs them (remote frees); the fuzzing thread
    /// waits until it has.
    RemoteFree { block: u16, count: u8 },
    /// `masu::collect(force)` on the fuzzing thread: takes in every remote
    /// free.
    Collect { force: bool },
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
}

/// A block handed to the worker thread.
struct Handed {
    addr: usize,
    layout: Layout,
    /// Bytes filled with `id`'s pattern (the block's usable size).
    filled: usize,
    id: u64,
}

/// The worker thread's end of the channels: batches go in, one `()` per
/// batch done comes back.
struct Worker {
    batches: Sender<Vec<Handed>>,
    done: Receiver<()>,
}

/// The long-lived freeing thread, started on first use. It attaches to masu
/// on its first free and never allocates, so its heap owns nothing and every
/// free it makes is a remote free into the fuzzing thread's heap.
fn worker() -> &'static Mutex<Worker> {
    static WORKER: OnceLock<Mutex<Worker>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (batches, inbox) = channel::<Vec<Handed>>();
        let (ack, done) = channel();
        std::thread::Builder::new()
            .name("masu-remote-free".into())
            .spawn(move || {
                for batch in inbox {
                    for h in batch {
                        // SAFETY: the fuzzing thread handed over a live block
                        // of `h.filled` usable bytes with this layout and no
                        // longer uses it. (A panic here aborts the process:
                        // libFuzzer's panic hook.)
                        unsafe {
                            verify(h.addr as *const u8, h.filled, h.id, "remote free");
                            MASU.dealloc(h.addr as *mut u8, h.layout);
                        }
                    }
                    // The frees may wait in this thread's batch of remote
                    // frees; publish them before the fuzzing thread collects,
                    // as a slow path or the exit hook would.
                    masu::flush_remote_frees();
                    ack.send(()).expect("fuzzing thread gone");
                }
            })
            .expect("spawn the worker thread");
        Mutex::new(Worker { batches, done })
    })
}

/// Usable bytes of a live masu block (the shim's `malloc_usable_size`).
fn usable(p: *mut u8) -> usize {
    // SAFETY: callers pass live blocks of masu.
    unsafe { masu::c::usable_size(p as *const core::ffi::c_void) }
}

struct Run {
    model: Model,
    base: Baseline,
}

impl Run {
    fn alloc(&mut self, layout: Layout, zeroed: bool) {
        // A soft cap (the usable size is not known before the call, the
        // request plus its alignment stands in for it).
        if self.model.live_bytes() + layout.size() + layout.align() > MAX_LIVE_BYTES {
            return;
        }
        // SAFETY: `layout` has a non-zero size.
        let p = unsafe {
            if zeroed {
                MASU.alloc_zeroed(layout)
            } else {
                MASU.alloc(layout)
            }
        };
        // Nothing here comes near the machine's memory: null is a bug.
        assert!(!p.is_null(), "alloc({layout:?}, zeroed {zeroed}) = null");
        if zeroed {
            // SAFETY: the block has `layout.size()` bytes.
            let s = unsafe { core::slice::from_raw_parts(p, layout.size()) };
            if let Some(off) = first_nonzero(s) {
                panic!(
                    "alloc_zeroed({layout:?}) = {p:?}: byte {off} is {:#x}",
                    s[off]
                );
            }
        }
        let u = usable(p);
        let id = self.model.insert(p, layout, u);
        self.model.allocs += 1;
        // SAFETY: all `u` usable bytes are the block's.
        unsafe { fill(p, u, id) };
    }

    fn realloc(&mut self, a: usize, new_size: usize) {
        let old = self.model.blocks[&a];
        let grows_by = new_size.saturating_sub(old.usable) + old.layout.align();
        if self.model.live_bytes() + grows_by > MAX_LIVE_BYTES {
            return;
        }
        self.model.blocks.remove(&a);
        // SAFETY: `a` is live with `old.layout`; `new_size` is non-zero and
        // small.
        let p = unsafe { MASU.realloc(a as *mut u8, old.layout, new_size) };
        assert!(
            !p.is_null(),
            "realloc({a:#x}, {:?}, {new_size}) = null",
            old.layout
        );
        // The heap copies the old layout's size (or keeps the block).
        let kept = old.layout.size().min(new_size);
        // SAFETY: the new block holds at least `kept` bytes.
        unsafe { verify(p, kept, old.id, "realloc") };
        let layout = Layout::from_size_align(new_size, old.layout.align()).expect("valid layout");
        let u = usable(p);
        if p as usize != a {
            self.model.allocs += 1;
            self.model.frees += 1;
        }
        let id = self.model.insert(p, layout, u);
        // SAFETY: the block has `u` usable bytes.
        unsafe { fill(p, u, id) };
    }

    fn free(&mut self, a: usize) {
        let b = self.model.blocks.remove(&a).expect("live block");
        // SAFETY: `a` is live with `b.layout` and `b.usable` filled bytes.
        unsafe {
            verify(a as *const u8, b.usable, b.id, "free");
            MASU.dealloc(a as *mut u8, b.layout);
        }
        self.model.frees += 1;
    }

    fn remote_free(&mut self, block: u16, count: u8) {
        let mut batch = Vec::new();
        for _ in 0..count % 8 + 1 {
            let Some(a) = self.model.pick(block) else {
                break;
            };
            let b = self.model.blocks.remove(&a).expect("live block");
            self.model.pending += 1;
            self.model.pending_bytes += b.usable;
            self.model.remote_frees += 1;
            batch.push(Handed {
                addr: a,
                layout: b.layout,
                filled: b.usable,
                id: b.id,
            });
        }
        if batch.is_empty() {
            return;
        }
        let w = worker().lock().unwrap_or_else(|e| e.into_inner());
        w.batches.send(batch).expect("worker thread gone");
        w.done.recv().expect("worker thread gone");
    }

    fn collect(&mut self, force: bool) {
        masu::collect(force);
        self.model.pending = 0;
        self.model.pending_bytes = 0;
        assert_eq!(
            self.base.remote_frees_collected(),
            self.model.remote_frees,
            "collect left remote frees uncollected"
        );
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let layout =
                    Layout::from_size_align(size.bytes(), 1 << (align_shift % ALIGN_SHIFTS))
                        .expect("valid layout");
                self.alloc(layout, zeroed);
            }
            Op::Realloc { block, size } => {
                if let Some(a) = self.model.pick(block) {
                    self.realloc(a, size.bytes());
                }
            }
            Op::Shrink {
                block,
                keep_per_mille,
            } => {
                if let Some(a) = self.model.pick(block) {
                    let old = self.model.blocks[&a].layout.size();
                    let new = old * (keep_per_mille as usize % 1001) / 1000;
                    self.realloc(a, new.max(1));
                }
            }
            Op::Free { block } => {
                if let Some(a) = self.model.pick(block) {
                    self.free(a);
                }
            }
            Op::RemoteFree { block, count } => self.remote_free(block, count),
            Op::Collect { force } => self.collect(force),
        }
        self.base.check(&self.model);
    }

    fn finish(mut self) {
        let live: Vec<usize> = self.model.blocks.keys().copied().collect();
        for a in live {
            self.free(a);
        }
        self.collect(true);
        self.base.check_empty(&self.model);
    }
}

fuzz_target!(|input: Input| {
    let mut run = Run {
        model: Model::default(),
        base: Baseline::take(),
    };
    for &op in input.ops.iter().take(MAX_OPS) {
        run.apply(op);
    }
    run.finish();
});
