//! masu-core built with its `checks` feature: a clean operation sequence
//! must never raise a fault, and a sequence that then injects exactly one
//! misuse (double free, foreign or interior pointer, wrong layout, scribbled
//! local or remote free list, a write past a block's end, a write into a
//! freed block) must be reported, with the right kind.
//!
//! Build with `cargo +nightly fuzz run checks --features checks`.
//!
//! The installed fault handler records the fault and unwinds with
//! `std::panic::resume_unwind`, which skips the panic hook (libFuzzer's hook
//! would abort), so `catch_unwind` around the misuse step gets the fault
//! back. Any other panic, or a fault outside the misuse step, is a crash.
#![no_main]

use arbitrary::Arbitrary;
use core::alloc::Layout;
use libfuzzer_sys::fuzz_target;
use masu_core::check::{set_fault_handler, Fault, FaultKind};
use masu_core::size_class::class_of;
use masu_core::FixedRegion;
use masu_fuzz::{Geometry, Harness, Op, MAX_OPS};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

const REGION_BYTES: usize = 4 << 20;

#[derive(Arbitrary, Debug)]
enum Misuse {
    /// Free a live block twice (each free by the owner or by the other heap).
    DoubleFree {
        block: u16,
        first_remote: bool,
        second_remote: bool,
    },
    /// Free a pointer into memory the region never handed out.
    Outside { offset: u8 },
    /// Free a pointer into the middle of a live block.
    Interior { block: u16, offset: u32 },
    /// Free (or realloc) a live block with a layout of another class.
    WrongLayout { block: u16, realloc: bool },
    /// Free a small block, overwrite its free-list link (a use after free),
    /// then allocate until the list is walked.
    ScribbleLocal { block: u16, value: u64 },
    /// The same for a block freed remotely, then collected.
    ScribbleRemote { block: u16, value: u64 },
    /// Write one byte up to 15 bytes past a live block's requested size
    /// (into its slack or its trailer), then free it, `realloc` it, or
    /// check the heap.
    Overflow { block: u16, past: u8, then: Then },
    /// Free a small block, write one byte of it past its link and tag (its
    /// free fill), then check the heap.
    WriteAfterFree { block: u16, offset: u32 },
}

/// What follows a write past a block's end.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Then {
    Free,
    Realloc,
    CheckHeap,
}

#[derive(Arbitrary, Debug)]
struct Input {
    geometry: Geometry,
    ops: Vec<Op>,
    misuse: Option<Misuse>,
}

/// The fault that unwound out of the heap.
struct Caught(Fault);

fn handler(fault: &Fault) -> ! {
    resume_unwind(Box::new(Caught(*fault)))
}

/// Runs `f`, which must raise exactly one fault; returns it.
fn expect_fault(what: &str, f: impl FnOnce()) -> Fault {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("misuse not detected: {what}"),
        Err(payload) => match payload.downcast::<Caught>() {
            Ok(c) => c.0,
            Err(other) => resume_unwind(other),
        },
    }
}

/// True when `MASU_FUZZ_VERBOSE` is set: each caught fault is printed.
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("MASU_FUZZ_VERBOSE").is_some())
}

fn assert_kind(what: &str, fault: &Fault, allowed: &[FaultKind]) {
    if verbose() {
        eprintln!("{what}: caught {fault}");
    }
    assert!(
        allowed.contains(&fault.kind),
        "{what}: reported as {:?} ({fault}), expected one of {allowed:?}",
        fault.kind
    );
}

/// True when `before` → `after` shows the page, span or segment of a block
/// of `usable` bytes given back.
fn released(
    before: &masu_core::Stats,
    after: &masu_core::Stats,
    usable: usize,
    max_small: usize,
) -> bool {
    if after.segments < before.segments {
        return true;
    }
    if usable <= max_small {
        let c = class_of(usable);
        after.pages_per_class[c] < before.pages_per_class[c]
    } else {
        after.large_spans < before.large_spans || after.huge_allocs < before.huge_allocs
    }
}

/// Injects `misuse` into the harness's heaps; returns false when the input
/// gives no way to do it (no suitable live block), so nothing was injected.
fn inject(h: &mut Harness<'_>, misuse: &Misuse) -> bool {
    match *misuse {
        Misuse::DoubleFree {
            block,
            first_remote,
            second_remote,
        } => {
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            let layout = b.layout;
            let max_small = h.owner.max_small_size();
            let before = h.owner.stats();
            if first_remote {
                h.remote_free(a);
            } else {
                h.free(a);
            }
            let after = h.owner.stats();
            let fault = expect_fault("double free", || {
                // SAFETY: deliberately freeing the block a second time.
                unsafe {
                    if second_remote {
                        h.other.dealloc(a as *mut u8, layout)
                    } else {
                        h.owner.dealloc(a as *mut u8, layout)
                    }
                }
            });
            assert_eq!(fault.ptr, a, "{fault}");
            if released(&before, &after, b.usable, max_small) {
                // The first free gave the page (or span, or segment) back:
                // the second finds a free page or no segment header and
                // calls the pointer foreign.
                assert_kind(
                    "double free after its page was released",
                    &fault,
                    &[FaultKind::DoubleFree, FaultKind::ForeignPointer],
                );
            } else {
                assert_kind("double free", &fault, &[FaultKind::DoubleFree]);
            }
        }
        Misuse::Outside { offset } => {
            let mut outside = [0u64; 64];
            let p = outside.as_mut_ptr().wrapping_add(offset as usize % 64) as *mut u8;
            let fault = expect_fault("pointer outside the region", || {
                // SAFETY: deliberately freeing memory masu never handed out;
                // checked builds reject it before touching it.
                unsafe { h.owner.dealloc(p, Layout::new::<u64>()) }
            });
            assert_kind("outside pointer", &fault, &[FaultKind::ForeignPointer]);
            std::hint::black_box(&mut outside);
        }
        Misuse::Interior { block, offset } => {
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            if b.usable < 2 {
                return false;
            }
            let off = 1 + offset as usize % (b.usable - 1);
            let fault = expect_fault("interior pointer", || {
                // SAFETY: deliberately freeing a pointer into a live block.
                unsafe { h.owner.dealloc((a + off) as *mut u8, b.layout) }
            });
            assert_kind("interior pointer", &fault, &[FaultKind::ForeignPointer]);
        }
        Misuse::WrongLayout { block, realloc } => {
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            let max_small = h.owner.max_small_size();
            // A size of another class: 16 B for blocks of 256 B and more
            // (and for all large blocks), 256 B more for smaller ones.
            let wrong = if b.usable >= 256 { 16 } else { b.usable + 256 };
            let wrong = Layout::from_size_align(wrong, 8).unwrap();
            debug_assert!(b.usable > max_small || class_of(b.usable) != class_of(wrong.size()));
            let fault = expect_fault("wrong layout", || {
                // SAFETY: deliberately passing a layout of another class.
                unsafe {
                    if realloc {
                        h.owner.realloc(a as *mut u8, wrong, b.layout.size() + 1);
                    } else {
                        h.owner.dealloc(a as *mut u8, wrong);
                    }
                }
            });
            assert_kind("wrong layout", &fault, &[FaultKind::LayoutMismatch]);
        }
        Misuse::ScribbleLocal { block, value } | Misuse::ScribbleRemote { block, value } => {
            let remote = matches!(misuse, Misuse::ScribbleRemote { .. });
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            if b.usable > h.owner.max_small_size() {
                return false; // large blocks have no free list
            }
            let before = h.owner.stats();
            if remote {
                h.remote_free(a);
                // Published onto the page's list (a chain's last link is
                // written when it is published), where a scribble must be
                // caught when the owner collects it.
                h.other.flush_remote_frees();
            } else {
                h.free(a);
            }
            let max_small = h.owner.max_small_size();
            if released(&before, &h.owner.stats(), b.usable, max_small) {
                return false; // its page went back: no list holds it
            }
            // SAFETY: a use after free: the block is on a free list of a
            // live page, and its first word is the list link.
            let link = unsafe { &mut *(a as *mut u64) };
            if *link == value {
                return false; // not a change
            }
            *link = value;
            let fault = expect_fault("scribbled free list", || {
                if remote {
                    h.owner.collect(false);
                } else {
                    // Allocate until the scribbled block is popped: at most
                    // every block of the class's pages once more.
                    for _ in 0..(1 << 20) {
                        if h.owner.alloc(b.layout).is_null() {
                            break;
                        }
                    }
                }
            });
            // A popped or merged block whose link leads out of its page is
            // reported as a write after free; a remote list's, as a
            // corrupted list.
            assert_kind(
                "scribbled free list",
                &fault,
                &[FaultKind::CorruptFreeList, FaultKind::UseAfterFree],
            );
        }
        Misuse::Overflow { block, past, then } => {
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            // The redzone (the class's slack, then a 16-byte trailer)
            // follows the request (the model's `usable` is the block's
            // whole size, redzone included).
            let at = (a + b.layout.size() + past as usize % 16) as *mut u8;
            // SAFETY: inside the block's redzone, which the heap owns: the
            // write is the misuse.
            unsafe { at.write(at.read() ^ 0x5a) };
            let fault = expect_fault("write past a block's end", || {
                // SAFETY: the block is live (its redzone overwritten).
                unsafe {
                    match then {
                        Then::Free => h.owner.dealloc(a as *mut u8, b.layout),
                        Then::Realloc => {
                            h.owner.realloc(a as *mut u8, b.layout, b.layout.size() + 1);
                        }
                        Then::CheckHeap => h.owner.check_heap(),
                    }
                }
            });
            assert_eq!(fault.ptr, a, "{fault}");
            assert_kind(
                "write past a block's end",
                &fault,
                &[FaultKind::BufferOverflow],
            );
        }
        Misuse::WriteAfterFree { block, offset } => {
            let Some(a) = h.model.pick(block) else {
                return false;
            };
            let b = h.model.blocks[&a];
            let max_small = h.owner.max_small_size();
            if b.usable > max_small || b.usable <= 32 {
                return false; // large blocks keep no fill; none between tag and trailer
            }
            let before = h.owner.stats();
            h.free(a);
            if released(&before, &h.owner.stats(), b.usable, max_small) {
                return false; // its page went back: nothing holds the block
            }
            // Between the link and tag (16 bytes) and the trailer (16).
            let at = (a + 16 + offset as usize % (b.usable - 32)) as *mut u8;
            // SAFETY: a byte of the freed block's fill, in a live page: the
            // write is the misuse.
            unsafe { at.write(at.read() ^ 0x5a) };
            let fault = expect_fault("write after free", || h.owner.check_heap());
            assert_kind("write after free", &fault, &[FaultKind::UseAfterFree]);
        }
    }
    true
}

fuzz_target!(|input: Input| {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| set_fault_handler(handler));
    // A fresh region per run: after a fault the heap is abandoned.
    let mut memory = vec![0x5Au8; REGION_BYTES].into_boxed_slice();
    let region = FixedRegion::empty();
    // SAFETY: `memory` outlives `region` and every heap over it (declared
    // later, they are dropped or forgotten first) and is used by nothing else.
    unsafe { region.init(memory.as_mut_ptr(), memory.len()) };
    let mut h = Harness::new(&region, input.geometry.config());
    for &op in input.ops.iter().take(MAX_OPS) {
        // A fault here escapes as a crash: clean use must never fault.
        h.apply(op);
    }
    let injected = match &input.misuse {
        Some(m) => inject(&mut h, m),
        None => false,
    };
    if injected {
        // The heaps saw a misuse; their state is no longer trusted, so they
        // are not dropped (they own no memory but the region's).
        let Harness {
            owner,
            other,
            model,
            ..
        } = h;
        std::mem::forget(owner);
        std::mem::forget(other);
        drop(model);
    } else {
        h.finish();
    }
});
