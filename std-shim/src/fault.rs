//! What masu does when it must stop: the fault handler of checked builds
//! and the panic handler of `libmasu.so`. Both write to stderr from a stack
//! buffer (no allocation) and abort.

use crate::fmtbuf::StackWriter;
use core::fmt::Write;

/// The fault handler of checked builds: prints the fault and aborts (no
/// unwinding out of the allocator, no allocation).
#[cfg_attr(not(any(feature = "checks", feature = "secure")), allow(dead_code))]
pub(crate) fn fault_abort(fault: &masu_core::check::Fault) -> ! {
    let mut w = StackWriter::<512>::stderr();
    let _ = write!(w, "{fault}");
    if let Some(site) = fault.site {
        write_symbol(&mut w, site);
    }
    let _ = writeln!(w);
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

/// Writes ` (symbol+0xoffset in object)` for the code address `addr`, as
/// far as the dynamic linker knows it (`dladdr`, which does not allocate).
fn write_symbol(w: &mut impl Write, addr: usize) {
    // SAFETY: an all-zero `Dl_info` is valid; `dladdr` fills it.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; any address may be asked.
    if unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } == 0 {
        return;
    }
    let text = |p: *const libc::c_char| {
        if p.is_null() {
            None
        } else {
            // SAFETY: `dladdr` returns NUL-terminated strings that live as
            // long as the object is loaded.
            unsafe { core::ffi::CStr::from_ptr(p) }.to_str().ok()
        }
    };
    let _ = write!(w, " (");
    match text(info.dli_sname) {
        Some(sym) => {
            let _ = write!(w, "{sym}+{:#x}", addr - info.dli_saddr as usize);
        }
        None => {
            let _ = write!(w, "{:#x}", addr - info.dli_fbase as usize);
        }
    }
    if let Some(file) = text(info.dli_fname) {
        let _ = write!(w, " in {file}");
    }
    let _ = write!(w, ")");
}
