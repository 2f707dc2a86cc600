//! The C malloc family that `libmasu.so` exports (`std-shim/capi`): arbitrary
//! sizes (zero, small, huge, near `usize::MAX` and `isize::MAX`), counts and
//! alignments (valid and not: zero, non-powers of two, below
//! `sizeof(void *)`, huge) into `malloc`, `calloc`, `realloc`,
//! `reallocarray`, `free`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc` and `malloc_usable_size`, each answer checked against
//! POSIX, glibc and what `masu::c` documents, with a model of the live
//! blocks and masu's statistics; then everything freed and masu must hold no
//! memory.
//!
//! The functions are called as the Rust functions of `masu::c`, which
//! `masu-capi` wraps one to one in its `#[no_mangle] extern "C"` exports
//! (`cfree`, `free_sized` and `free_aligned_sized` are `masu::c::free` there,
//! `malloc_trim` is `masu::collect` and `masu::collect_abandoned`). Linking
//! the exported symbols into this binary would replace the process's
//! `malloc` under libFuzzer and AddressSanitizer, which intercept it
//! themselves; `masu::c` is the same code under names that clash with
//! nothing. `errno` is the process's (`__errno_location`), as for C callers.
#![no_main]

use arbitrary::Arbitrary;
use core::ffi::{c_int, c_void};
use libfuzzer_sys::fuzz_target;
use masu::c;
use masu_fuzz::shim::Baseline;
use masu_fuzz::{fill_range, first_nonzero, verify_range, Model, MAX_OPS};
use std::alloc::Layout;
use std::fmt::Debug;
use std::ptr;

/// `sizeof(void *)`.
const PTR: usize = core::mem::size_of::<*mut c_void>();

/// x86-64 Linux maps nothing at or above 2^47 without an address hint (with
/// 4- or 5-level page tables), and nothing at 0: a block of `size` bytes
/// aligned to `align` cannot exist when `align + size > ADDRESS_SPACE`, so
/// such requests must fail (`ENOMEM`). Smaller impossible ones may fail too.
const ADDRESS_SPACE: usize = 1 << 47;

/// Requests of at most this size and alignment must succeed (nothing here
/// comes near the machine's memory; huge blocks are touched sparsely).
const MUST_FIT: usize = 256 << 20;

/// Requests that may succeed but need more than this much address space
/// (size or alignment) are not made. Under AddressSanitizer an `mmap` or
/// `munmap` costs time in proportion to its length (it clears the shadow of
/// the range): about 50 ms per TiB, seconds for the 64 TiB a request may
/// get, all on the same code path as a 64 GiB request. Requests that must
/// fail are always made (their `mmap` fails at once).
const SLOW: usize = 1 << 36;

/// Blocks with at most this many usable bytes are filled and checked in full
/// and kept live; larger ones (up to [`SLOW`]) are checked at their start,
/// middle and end, then freed at once.
const FULL_CHECK: usize = 16 << 20;

/// A block that would take the model's live bytes past this is freed at once
/// after its checks.
const MAX_LIVE_BYTES: usize = 96 << 20;

/// Bytes checked at each spot of a sparsely checked block.
const SPOT: usize = 4096;

/// A byte size for the C functions.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Size {
    Zero,
    /// 0..=255.
    Tiny(u8),
    /// Up to 4 KiB.
    Small(u16),
    /// Up to 256 KiB (the largest class is 64 KiB, then large spans).
    Medium(u32),
    /// Up to 16 MiB (huge blocks over several 4 MiB segments).
    Large(u32),
    /// `2^(shift % 64) + delta`, wrapping: powers of two and their
    /// neighbours, from 1 B to 2^63.
    Pow2 {
        shift: u8,
        delta: i8,
    },
    /// `usize::MAX - n`.
    NearMax(u16),
    /// `isize::MAX + n`, wrapping: around the largest object C allows.
    NearIsizeMax(i16),
}

impl Size {
    fn bytes(self) -> usize {
        match self {
            Size::Zero => 0,
            Size::Tiny(n) => n as usize,
            Size::Small(n) => n as usize % 4097,
            Size::Medium(n) => n as usize % ((256 << 10) + 1),
            Size::Large(n) => n as usize % ((16 << 20) + 1),
            Size::Pow2 { shift, delta } => (1usize << (shift % 64)).wrapping_add(delta as usize),
            Size::NearMax(n) => usize::MAX - n as usize,
            Size::NearIsizeMax(n) => (isize::MAX as usize).wrapping_add(n as usize),
        }
    }
}

/// An element count for `calloc` and `reallocarray`.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Count {
    /// 0..=255.
    Small(u8),
    /// `2^(shift % 64) + delta`, wrapping.
    Pow2 { shift: u8, delta: i8 },
    /// `usize::MAX - n`.
    NearMax(u16),
    /// Any.
    Raw(u64),
}

impl Count {
    fn get(self) -> usize {
        match self {
            Count::Small(n) => n as usize,
            Count::Pow2 { shift, delta } => (1usize << (shift % 64)).wrapping_add(delta as usize),
            Count::NearMax(n) => usize::MAX - n as usize,
            Count::Raw(n) => n as usize,
        }
    }
}

/// An alignment argument, valid or not.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Align {
    /// `2^(n % 64)`: every power of two, including those below
    /// `sizeof(void *)` and those no block can have.
    Pow2(u8),
    /// 0..=255: zero, small non-powers of two, 1, 2 and 4.
    Small(u8),
    /// `2^(shift % 64) + delta`, wrapping: non-powers of two near powers.
    NearPow2 { shift: u8, delta: i8 },
    /// `usize::MAX - n`.
    NearMax(u8),
}

impl Align {
    fn get(self) -> usize {
        match self {
            Align::Pow2(n) => 1usize << (n % 64),
            Align::Small(n) => n as usize,
            Align::NearPow2 { shift, delta } => {
                (1usize << (shift % 64)).wrapping_add(delta as usize)
            }
            Align::NearMax(n) => usize::MAX - n as usize,
        }
    }
}

/// One C call (or a few). Block indices pick a live block modulo the number
/// of live blocks (in address order).
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Op {
    Malloc {
        size: Size,
    },
    Calloc {
        n: Count,
        size: Size,
    },
    /// `malloc(n * size)` filled with a non-zero byte and freed, then
    /// `calloc(n, size)`, which masu serves from the same dirty memory
    /// where it can (so the zeroing is really tested).
    CallocDirty {
        n: Count,
        size: Size,
    },
    /// `realloc` of a live block (grow, shrink, to 0, to an impossible
    /// size).
    Realloc {
        block: u16,
        size: Size,
    },
    /// `realloc(NULL, size)`.
    ReallocNull {
        size: Size,
    },
    /// `reallocarray` of a live block, or of NULL when `null`.
    Reallocarray {
        block: u16,
        null: bool,
        n: Count,
        size: Size,
    },
    PosixMemalign {
        align: Align,
        size: Size,
    },
    AlignedAlloc {
        align: Align,
        size: Size,
    },
    Memalign {
        align: Align,
        size: Size,
    },
    Valloc {
        size: Size,
    },
    Pvalloc {
        size: Size,
    },
    Free {
        block: u16,
    },
    /// `free(NULL)` and `malloc_usable_size(NULL)`.
    Nulls,
    /// What `malloc_trim` does: `masu::collect(true)` and
    /// `masu::collect_abandoned(true)`.
    Trim,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
}

fn errno() -> c_int {
    // SAFETY: `__errno_location` always returns the thread's errno slot.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}

/// The alignment `masu::c` documents for every block: 16 bytes, 8 for
/// requests of 8 bytes or less (C's fundamental alignment for objects that
/// fit).
fn malloc_align(size: usize) -> usize {
    if size <= 8 {
        8
    } else {
        16
    }
}

/// What a request must do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Return null (or the error number) with this error.
    Fail(c_int),
    /// Return a block.
    Succeed,
    /// A block, or null with `ENOMEM`.
    Either,
    /// Not made: it may succeed, and slowly (see [`SLOW`]).
    Skip,
}

/// What a request for `size` bytes aligned to `align` (a power of two) must
/// do.
fn expect(size: usize, align: usize) -> Expect {
    if size > isize::MAX as usize
        || align >= ADDRESS_SPACE
        || size >= ADDRESS_SPACE
        || align + size > ADDRESS_SPACE
    {
        Expect::Fail(libc::ENOMEM)
    } else if size <= MUST_FIT && align <= MUST_FIT {
        Expect::Succeed
    } else if size > SLOW || align > SLOW {
        Expect::Skip
    } else {
        Expect::Either
    }
}

/// What a request for `n * size` bytes must do (`calloc`, `reallocarray`):
/// overflow is `ENOMEM`.
fn expect_array(n: usize, size: usize) -> Expect {
    match n.checked_mul(size) {
        None => Expect::Fail(libc::ENOMEM),
        Some(total) => expect(total, malloc_align(total)),
    }
}

/// Checks a pointer answer against `e` and `errno`; true for a block.
fn answered(what: &dyn Debug, p: *mut c_void, e: Expect) -> bool {
    match e {
        Expect::Fail(err) => {
            assert!(p.is_null(), "{what:?} = {p:?}, expected null ({err})");
            assert_eq!(errno(), err, "{what:?} = null: errno");
            false
        }
        Expect::Succeed => {
            assert!(!p.is_null(), "{what:?} = null (errno {})", errno());
            true
        }
        Expect::Either => {
            if p.is_null() {
                assert_eq!(errno(), libc::ENOMEM, "{what:?} = null: errno");
            }
            !p.is_null()
        }
        Expect::Skip => unreachable!("{what:?} was not to be made"),
    }
}

/// The byte ranges of a block of `len` bytes that are filled and checked:
/// all of it up to [`FULL_CHECK`], else its first, middle and last
/// [`SPOT`] bytes.
#[allow(clippy::single_range_in_vec_init)] // one range: the whole block
fn spots(len: usize) -> Vec<core::ops::Range<usize>> {
    if len <= FULL_CHECK {
        vec![0..len]
    } else {
        let mid = (len / 2) & !(SPOT - 1);
        vec![0..SPOT, mid..mid + SPOT, len - SPOT..len]
    }
}

/// Fills the spots of `len` bytes at `p` with `id`'s pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of writes.
unsafe fn fill_spots(p: *mut u8, len: usize, id: u64) {
    for r in spots(len) {
        // SAFETY: the range lies within `len`.
        unsafe { fill_range(p, r, id) };
    }
}

/// Checks the spots of `len` bytes at `p` hold `id`'s pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
unsafe fn verify_spots(p: *const u8, len: usize, id: u64, what: &str) {
    for r in spots(len) {
        // SAFETY: the range lies within `len`.
        unsafe { verify_range(p, r, id, what) };
    }
}

/// Checks the spots of `len` bytes at `p` are zero.
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
unsafe fn zero_spots(p: *const u8, len: usize, what: &dyn Debug) {
    for r in spots(len) {
        // SAFETY: the range lies within `len`.
        let s = unsafe { core::slice::from_raw_parts(p.add(r.start), r.len()) };
        if let Some(i) = first_nonzero(s) {
            panic!("{what:?} = {p:?}: byte {} is {:#x}", r.start + i, s[i]);
        }
    }
}

struct Run {
    model: Model,
    base: Baseline,
}

impl Run {
    /// Takes in a block returned for `size` bytes aligned to `align`:
    /// checks its alignment (at least `malloc_align(size)` too, as every
    /// masu block), usable size and overlap, its zeroes when `zero`; fills
    /// it; frees it at once if it is too large to keep.
    fn admit(&mut self, p: *mut c_void, size: usize, align: usize, zero: bool, what: &dyn Debug) {
        let align = align.max(malloc_align(size));
        // SAFETY: `p` is a live block.
        let usable = unsafe { c::malloc_usable_size(p) };
        assert!(
            usable >= size,
            "{what:?} = {p:?}: malloc_usable_size {usable} < {size}"
        );
        assert_eq!(
            p as usize % align,
            0,
            "{what:?} = {p:?}: not aligned to {align}"
        );
        let layout = Layout::from_size_align(size, align).expect("a block exists for it");
        if zero {
            // SAFETY: the block has `size` bytes.
            unsafe { zero_spots(p as *const u8, size, what) };
        }
        let id = self.model.insert(p as *mut u8, layout, usable);
        self.model.allocs += 1;
        // SAFETY: the block has `usable` bytes.
        unsafe { fill_spots(p as *mut u8, usable, id) };
        if usable > FULL_CHECK || self.model.live_bytes() > MAX_LIVE_BYTES {
            self.free(p as usize);
        }
    }

    /// `free` of a live block, after checking its contents.
    fn free(&mut self, a: usize) {
        let b = self.model.blocks.remove(&a).expect("live block");
        // SAFETY: `a` is a live block of `b.usable` bytes, freed once.
        unsafe {
            verify_spots(a as *const u8, b.usable, b.id, "free");
            c::free(a as *mut c_void);
        }
        self.model.frees += 1;
    }

    fn malloc(&mut self, size: usize) {
        let e = expect(size, malloc_align(size));
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::malloc(size);
        let what = ("malloc", size);
        if answered(&what, p, e) {
            self.admit(p, size, 1, false, &what);
        }
    }

    fn calloc(&mut self, n: usize, size: usize) {
        let e = expect_array(n, size);
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::calloc(n, size);
        let what = ("calloc", n, size);
        if answered(&what, p, e) {
            self.admit(p, n * size, 1, true, &what);
        }
    }

    fn calloc_dirty(&mut self, n: usize, size: usize) {
        if let Some(total) = n.checked_mul(size) {
            if total <= FULL_CHECK && self.model.live_bytes() + total <= MAX_LIVE_BYTES {
                let p = c::malloc(total);
                assert!(!p.is_null(), "malloc({total}) = null");
                // SAFETY: a live block of that many usable bytes, freed once.
                unsafe {
                    let usable = c::malloc_usable_size(p);
                    ptr::write_bytes(p as *mut u8, 0xA5, usable);
                    c::free(p);
                }
                self.model.allocs += 1;
                self.model.frees += 1;
            }
        }
        self.calloc(n, size);
    }

    /// A `realloc` of the live block `a` to `size` bytes: `call` makes it
    /// (`realloc` or `reallocarray`), `e` says what it must do.
    fn realloc(
        &mut self,
        a: usize,
        size: usize,
        what: &dyn Debug,
        e: Expect,
        call: impl FnOnce() -> *mut c_void,
    ) {
        if e == Expect::Skip {
            return;
        }
        let old = self.model.blocks[&a];
        set_errno(0);
        let q = call();
        if size == 0 && e == Expect::Succeed {
            // glibc's realloc(p, 0): frees p, returns null.
            assert!(q.is_null(), "{what:?} = {q:?}, expected null (p freed)");
            self.model.blocks.remove(&a);
            self.model.frees += 1;
            return;
        }
        if !answered(what, q, e) {
            // The old block is untouched and still live.
            // SAFETY: it is.
            unsafe { verify_spots(a as *const u8, old.usable, old.id, "failed realloc") };
            // SAFETY: as above.
            let usable = unsafe { c::malloc_usable_size(a as *mut c_void) };
            assert_eq!(usable, old.usable, "{what:?} failed but changed the block");
            return;
        }
        self.model.blocks.remove(&a);
        if q as usize != a {
            // Moved: a new block, the old one freed.
            self.model.frees += 1;
        } else {
            // In place: `admit` counts it as handed out again.
            self.model.allocs -= 1;
        }
        // Everything the old block's usable size covered and the new size
        // keeps is kept (a program may use all of `malloc_usable_size`).
        let kept = old.usable.min(size);
        // SAFETY: the new block has at least `size` bytes.
        unsafe { verify_spots(q as *const u8, kept, old.id, "realloc") };
        self.admit(q, size, 1, false, what);
    }

    fn realloc_op(&mut self, block: u16, size: usize) {
        let Some(a) = self.model.pick(block) else {
            return;
        };
        let what = ("realloc", a as *mut c_void, size);
        let e = expect(size, malloc_align(size));
        // SAFETY: `a` is a live block.
        self.realloc(a, size, &what, e, || unsafe {
            c::realloc(a as *mut c_void, size)
        });
    }

    fn realloc_null(&mut self, size: usize) {
        let e = expect(size, malloc_align(size));
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        // SAFETY: null is a valid argument.
        let p = unsafe { c::realloc(ptr::null_mut(), size) };
        let what = ("realloc", "NULL", size);
        if answered(&what, p, e) {
            self.admit(p, size, 1, false, &what);
        }
    }

    fn reallocarray(&mut self, block: u16, null: bool, n: usize, size: usize) {
        let a = if null { None } else { self.model.pick(block) };
        let e = expect_array(n, size);
        let Some(a) = a else {
            if e == Expect::Skip {
                return;
            }
            set_errno(0);
            // SAFETY: null is a valid argument.
            let p = unsafe { c::reallocarray(ptr::null_mut(), n, size) };
            let what = ("reallocarray", "NULL", n, size);
            if answered(&what, p, e) {
                self.admit(p, n * size, 1, false, &what);
            }
            return;
        };
        let what = ("reallocarray", a as *mut c_void, n, size);
        // As `realloc(a, n * size)`; on overflow the block stays as it is.
        // SAFETY: `a` is a live block.
        self.realloc(a, n.wrapping_mul(size), &what, e, || unsafe {
            c::reallocarray(a as *mut c_void, n, size)
        });
    }

    fn posix_memalign(&mut self, align: usize, size: usize) {
        let e = if !align.is_power_of_two() || !align.is_multiple_of(PTR) {
            Expect::Fail(libc::EINVAL)
        } else {
            expect(size, align)
        };
        if e == Expect::Skip {
            return;
        }
        let sentinel = 0x5a5a_5a50 as *mut c_void;
        let mut out = sentinel;
        // SAFETY: `out` is valid for a pointer write.
        let rc = unsafe { c::posix_memalign(&mut out, align, size) };
        let what = ("posix_memalign", align, size);
        // The error number is the result (errno is not looked at); on
        // error `*out` is untouched.
        let err = match e {
            Expect::Fail(err) => err,
            Expect::Succeed => 0,
            Expect::Either if rc == 0 => 0,
            Expect::Either | Expect::Skip => libc::ENOMEM,
        };
        assert_eq!(rc, err, "{what:?} = {rc}, expected {e:?}");
        if rc == 0 {
            self.admit(out, size, align, false, &what);
        } else {
            assert_eq!(out, sentinel, "{what:?} = {rc} wrote *out");
        }
    }

    fn aligned_alloc(&mut self, align: usize, size: usize) {
        // C17 (and glibc): an alignment the implementation does not support
        // (not a power of two, zero) is an error, EINVAL.
        let e = if !align.is_power_of_two() {
            Expect::Fail(libc::EINVAL)
        } else {
            expect(size, align)
        };
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::aligned_alloc(align, size);
        let what = ("aligned_alloc", align, size);
        if answered(&what, p, e) {
            self.admit(p, size, align, false, &what);
        }
    }

    fn memalign(&mut self, align: usize, size: usize) {
        // glibc: an alignment that is not a power of two is rounded up to
        // one; above 2^63 it cannot be, EINVAL.
        let want = align.max(1).checked_next_power_of_two();
        let e = match want {
            None => Expect::Fail(libc::EINVAL),
            Some(w) => expect(size, w),
        };
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::memalign(align, size);
        let what = ("memalign", align, size);
        if answered(&what, p, e) {
            self.admit(p, size, want.unwrap(), false, &what);
        }
    }

    fn valloc(&mut self, size: usize) {
        let page = masu::page_size();
        let e = expect(size, page);
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::valloc(size);
        let what = ("valloc", size);
        if answered(&what, p, e) {
            self.admit(p, size, page, false, &what);
        }
    }

    fn pvalloc(&mut self, size: usize) {
        let page = masu::page_size();
        // The size rounded up to whole pages, one page for 0.
        let rounded = size.max(1).checked_add(page - 1).map(|s| s & !(page - 1));
        let e = match rounded {
            None => Expect::Fail(libc::ENOMEM),
            Some(r) => expect(r, page),
        };
        if e == Expect::Skip {
            return;
        }
        set_errno(0);
        let p = c::pvalloc(size);
        let what = ("pvalloc", size);
        if answered(&what, p, e) {
            self.admit(p, rounded.unwrap(), page, false, &what);
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Malloc { size } => self.malloc(size.bytes()),
            Op::Calloc { n, size } => self.calloc(n.get(), size.bytes()),
            Op::CallocDirty { n, size } => self.calloc_dirty(n.get(), size.bytes()),
            Op::Realloc { block, size } => self.realloc_op(block, size.bytes()),
            Op::ReallocNull { size } => self.realloc_null(size.bytes()),
            Op::Reallocarray {
                block,
                null,
                n,
                size,
            } => self.reallocarray(block, null, n.get(), size.bytes()),
            Op::PosixMemalign { align, size } => self.posix_memalign(align.get(), size.bytes()),
            Op::AlignedAlloc { align, size } => self.aligned_alloc(align.get(), size.bytes()),
            Op::Memalign { align, size } => self.memalign(align.get(), size.bytes()),
            Op::Valloc { size } => self.valloc(size.bytes()),
            Op::Pvalloc { size } => self.pvalloc(size.bytes()),
            Op::Free { block } => {
                if let Some(a) = self.model.pick(block) {
                    self.free(a);
                }
            }
            Op::Nulls => {
                // SAFETY: null is a valid argument to both.
                unsafe {
                    c::free(ptr::null_mut());
                    assert_eq!(c::malloc_usable_size(ptr::null_mut()), 0);
                }
            }
            Op::Trim => {
                masu::collect(true);
                masu::collect_abandoned(true);
            }
        }
        self.base.check(&self.model);
    }

    fn finish(mut self) {
        let live: Vec<usize> = self.model.blocks.keys().copied().collect();
        for a in live {
            self.free(a);
        }
        masu::collect(true);
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
