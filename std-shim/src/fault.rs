//! What masu does when it must stop: the fault handler of checked builds
//! and the panic handler of `libmasu.so`. Both write to stderr from a stack
//! buffer (no allocation) and abort.

use crate::fmtbuf::StackWriter;
use core::fmt::Write;

/// The fault handler of checked builds: prints the fault and aborts (no
/// unwinding out of the allocator, no allocation).
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
pub(crate) fn fault_abort(fault: &masu_core::check::Fault) -> ! {
    let mut w = StackWriter::<512>::stderr();
    let _ = writeln!(w, "{fault}");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Prints a panic's message and location on stderr (without allocating)
/// and aborts: the panic handler of `libmasu.so`, which carries no `std`.
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut w = StackWriter::<512>::stderr();
    let _ = writeln!(w, "masu: panic: {info}");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}
