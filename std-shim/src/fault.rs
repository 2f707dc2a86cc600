//! What masu does when it must stop: the fault handler of checked builds
//! and the panic handler of `libmasu.so`. Both write to stderr from a stack
//! buffer (no allocation) and abort.

use crate::fmtbuf::{StackWriter, Text};
use masu_core::check::Fault;

/// The fault handler of checked builds: prints the fault and aborts (no
/// unwinding out of the allocator, no allocation).
#[cfg_attr(not(any(feature = "checks", feature = "secure")), allow(dead_code))]
pub(crate) fn fault_abort(fault: &Fault) -> ! {
    let mut w = StackWriter::stderr();
    write_fault(&mut w, fault);
    if let Some(site) = fault.site {
        write_symbol(&mut w, site);
    }
    w.s("\n");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Prints a panic's location and `message` on stderr (without allocating)
/// and aborts: the panic handler of `libmasu.so`, which carries no `std`.
/// `message` is the panic's message when it is a plain string (Rust 1.81's
/// `PanicMessage::as_str`); one with arguments would need `core::fmt`,
/// which `libmasu.so` leaves out (about 10 KB of text), so it is not
/// printed.
pub fn report_panic(info: &core::panic::PanicInfo<'_>, message: Option<&str>) -> ! {
    let mut w = StackWriter::stderr();
    w.s("masu: panic");
    if let Some(at) = info.location() {
        w.s(" at ").s(at.file()).s(":").num(at.line() as u64);
        w.s(":").num(at.column() as u64);
    }
    if let Some(m) = message {
        w.s(": ").s(m);
    }
    w.s("\n");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Writes ` (symbol+0xoffset in object)` for the code address `addr`, as
/// far as the dynamic linker knows it (`dladdr`, which does not allocate).
fn write_symbol(w: &mut StackWriter, addr: usize) {
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
    w.s(" (");
    match text(info.dli_sname) {
        Some(sym) => w.s(sym).s("+").hex((addr - info.dli_saddr as usize) as u64),
        None => w.hex((addr - info.dli_fbase as usize) as u64),
    };
    if let Some(file) = text(info.dli_fname) {
        w.s(" in ").s(file);
    }
    w.s(")");
}

/// Writes `fault` as `masu_core::check::Fault`'s `Display` does (which
/// would bring `core::fmt` into the library).
fn write_fault(w: &mut StackWriter, f: &Fault) {
    w.s("masu: ")
        .s(f.kind.describe())
        .s(" of ")
        .hex(f.ptr as u64);
    w.s(": ").s(f.detail).s(" (").hex(f.value as u64).s(")");
    if let Some(size) = f.size {
        w.s("; a block of ").num(size as u64).s(" bytes");
    }
    if let Some(site) = f.site {
        w.s(", allocated at ").hex(site as u64);
    }
}
