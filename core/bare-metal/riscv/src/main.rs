//! masu-core as the `#[global_allocator]` of RISC-V firmware.
//!
//! Built for `riscv32imc-unknown-none-elf` (no atomic read-modify-write:
//! masu-core's atomics take a critical section) and run under QEMU's `virt`
//! board by `scripts/firmware-test`. The heap is a 64 KiB static region
//! managed with [`Config::SMALL_REGION`] and locked with
//! `CriticalSectionLock`. The firmware runs the shared workload
//! (`core/bare-metal/workload.rs`), prints masu's statistics over
//! semihosting and exits through semihosting with success or failure.
#![no_std]
#![no_main]

extern crate alloc;

use core::panic::PanicInfo;
use masu_core::{Config, CriticalSectionLock, FixedRegion, LockedHeap};
use riscv_rt::entry;
use sh::{debug, hprintln};

/// The semihosting calls the workload uses.
mod sh {
    pub(crate) use riscv_semihosting::{debug, hprintln};
}

/// The workload every board runs (shared with the Cortex-M firmware).
#[macro_use]
#[path = "../../workload.rs"]
mod workload;

/// The workload's counts for this heap: the larger ones (the Cortex-M3's).
const fn pick(large: usize, _small: usize) -> usize {
    large
}

/// The allocator: built at compile time, given its memory in [`main`].
#[global_allocator]
static HEAP: LockedHeap<FixedRegion, CriticalSectionLock> =
    LockedHeap::empty_with(Config::SMALL_REGION);

/// Bytes of RAM given to the heap.
const HEAP_SIZE: usize = 64 * 1024;

/// The heap's memory (any address: the region trims it to 8 bytes).
#[repr(C, align(8))]
struct Region([u8; HEAP_SIZE]);

/// Written only through the pointer handed to `HEAP.init`, once.
static mut REGION: Region = Region([0; HEAP_SIZE]);

/// Gives the heap its region, runs the workload and exits through semihosting.
#[entry]
fn main() -> ! {
    let start = core::ptr::addr_of_mut!(REGION) as *mut u8;
    // SAFETY: `REGION` is a static of `HEAP_SIZE` bytes that nothing but the
    // heap touches (this is the only place that names it, and it runs once,
    // before any allocation), so the range is valid, writable and exclusively
    // the heap's for the rest of the program.
    unsafe { HEAP.init(start, HEAP_SIZE) };
    workload::run("virt (RISC-V, riscv32imc)", start, |collections| collections())
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("FAIL: panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
