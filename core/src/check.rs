//! Fail fast: the faults masu detects and the handler that reports them.
//!
//! With the `checks` feature the heap validates every free and every free-list
//! pop; a fault calls the installed handler, which must not return. The
//! default handler panics with a message naming the pointer and the fault.

use core::fmt;
use core::sync::atomic::{AtomicPtr, Ordering};

/// What kind of misuse was detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A block was freed while already free.
    DoubleFree,
    /// A pointer that this heap did not hand out (outside its segments, not at
    /// a block boundary, or in a page that is not in use).
    ForeignPointer,
    /// The layout passed to `dealloc`/`realloc` does not match the block.
    LayoutMismatch,
    /// A free-list link decoded to an address outside its page.
    CorruptFreeList,
    /// The bytes after a block's end (its slack and trailer) were
    /// overwritten: a write past the block's end, or before the start of the
    /// block that follows it.
    BufferOverflow,
    /// A freed block was written before it was handed out again.
    UseAfterFree,
}

impl FaultKind {
    /// A short, stable description used in fault messages.
    pub const fn describe(self) -> &'static str {
        match self {
            FaultKind::DoubleFree => "double free",
            FaultKind::ForeignPointer => "foreign pointer",
            FaultKind::LayoutMismatch => "layout mismatch",
            FaultKind::CorruptFreeList => "corrupted free list",
            FaultKind::BufferOverflow => "buffer overflow",
            FaultKind::UseAfterFree => "write after free",
        }
    }
}

/// A detected fault: what happened, to which pointer, and the evidence.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// The fault's kind.
    pub kind: FaultKind,
    /// The pointer the fault is about.
    pub ptr: usize,
    /// Why masu concluded this.
    pub detail: &'static str,
    /// A number that goes with `detail` (a size, a class, an address).
    pub value: usize,
    /// The size the block was allocated with, when known.
    pub size: Option<usize>,
    /// Where the block was allocated (a return address in the program),
    /// when known.
    pub site: Option<usize>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "masu: {} of {:#x}: {} ({:#x})",
            self.kind.describe(),
            self.ptr,
            self.detail,
            self.value
        )?;
        if let Some(size) = self.size {
            write!(f, "; a block of {size} bytes")?;
        }
        if let Some(site) = self.site {
            write!(f, ", allocated at {site:#x}")?;
        }
        Ok(())
    }
}

/// A fault handler: reports the fault and never returns.
pub type FaultHandler = fn(&Fault) -> !;

fn panic_handler(fault: &Fault) -> ! {
    panic!("{fault}")
}

// Not part of a concurrent protocol, only a process-wide setting, so a core
// atomic (see `sync`).
static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `handler` for all heaps in the process. The default panics.
pub fn set_fault_handler(handler: FaultHandler) {
    HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Reports `fault` through the installed handler.
#[cold]
#[inline(never)]
pub fn report(fault: Fault) -> ! {
    let raw = HANDLER.load(Ordering::Acquire);
    if raw.is_null() {
        panic_handler(&fault)
    }
    // SAFETY: the only non-null values stored are `FaultHandler`s cast to
    // pointers by `set_fault_handler`; a pointer keeps the function's
    // provenance, and fn pointers and data pointers have the same size here.
    let handler: FaultHandler = unsafe { core::mem::transmute::<*mut (), FaultHandler>(raw) };
    handler(&fault)
}

/// Shorthand for `report(Fault { .. })`.
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
#[cold]
pub(crate) fn fault(kind: FaultKind, ptr: usize, detail: &'static str, value: usize) -> ! {
    report(Fault {
        kind,
        ptr,
        detail,
        value,
        size: None,
        site: None,
    })
}
