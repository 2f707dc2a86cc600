//! masu-core as the `#[global_allocator]` of Cortex-M firmware.
//!
//! Built for `thumbv7m-none-eabi` and run under QEMU's `mps2-an385` board
//! (a Cortex-M3 with 4 MiB of RAM), and with the `microbit` feature for
//! `thumbv6m-none-eabi` under QEMU's `microbit` board (a Cortex-M0, no
//! compare-and-swap, 16 KiB of RAM: an 8 KiB heap and a workload scaled to
//! it), by `scripts/firmware-test`. The heap is a static region managed with [`Config::SMALL_REGION`] (every block a
//! direct block of the region's two-level segregated fit, with a 4 KiB cache
//! of freed blocks). The firmware runs a workload with `Vec`,
//! `String`, `BTreeMap` and `Box`, grows vectors through `realloc`, runs the
//! heap out of memory through fallible `try_reserve` calls, checks every
//! result, prints masu's statistics over semihosting and exits through
//! semihosting with success or failure. The heap is locked with
//! `CriticalSectionLock` (interrupts off while masu works), and a SysTick
//! handler allocates and frees through it while the workload runs: with a
//! spin lock, a tick that arrives while the workload holds the lock would
//! deadlock.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use sh::{debug, hprintln};

/// The semihosting calls the workload uses.
mod sh {
    pub(crate) use cortex_m_semihosting::{debug, hprintln};
}

/// The workload every board runs (shared with the RISC-V firmware).
#[macro_use]
#[path = "../../workload.rs"]
mod workload;

/// `m3` on the Cortex-M3 board, `m0` on the micro:bit (8 KiB heap).
const fn pick(m3: usize, m0: usize) -> usize {
    if cfg!(feature = "microbit") {
        m0
    } else {
        m3
    }
}

/// The board, for the messages.
const BOARD: &str = if cfg!(feature = "microbit") {
    "microbit (Cortex-M0, thumbv6m)"
} else {
    "mps2-an385 (Cortex-M3, thumbv7m)"
};
use cortex_m::peripheral::syst::SystClkSource;
use masu_core::{Config, CriticalSectionLock, FixedRegion, LockedHeap};

/// The allocator: built at compile time, given its memory in [`main`]; its
/// lock holds a critical section, so interrupt handlers may allocate.
#[global_allocator]
static HEAP: LockedHeap<FixedRegion, CriticalSectionLock> =
    LockedHeap::empty_with(Config::SMALL_REGION);

/// SysTick interrupts taken, and those whose allocations checked out.
static TICKS: AtomicU32 = AtomicU32::new(0);
static TICK_ALLOCS_OK: AtomicU32 = AtomicU32::new(0);

/// Allocates and frees through the global heap from an interrupt handler.
#[exception]
fn SysTick() {
    // A load and a store: the handler does not interrupt itself, and the
    // Cortex-M0 has no read-modify-write atomics.
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    let v: Vec<u32> = (0..16).collect();
    let b = Box::new([7u8; 40]);
    if v.iter().sum::<u32>() == 120 && b.iter().all(|&x| x == 7) {
        TICK_ALLOCS_OK.store(TICK_ALLOCS_OK.load(Relaxed) + 1, Relaxed);
    }
}

/// Bytes of RAM given to the heap.
const HEAP_SIZE: usize = pick(64 * 1024, 8 * 1024);

/// The heap's memory (any address: the region trims it to 8 bytes).
#[repr(C, align(8))]
struct Region([u8; HEAP_SIZE]);

/// Written only through the pointer handed to `HEAP.init`, once.
static mut REGION: Region = Region([0; HEAP_SIZE]);

#[entry]
fn main() -> ! {
    let start = core::ptr::addr_of_mut!(REGION) as *mut u8;
    // SAFETY: `REGION` is a static of `HEAP_SIZE` bytes that nothing but the
    // heap touches (this is the only place that names it, and it runs once,
    // before any allocation), so the range is valid, writable and exclusively
    // the heap's for the rest of the program.
    unsafe { HEAP.init(start, HEAP_SIZE) };
    workload::run(BOARD, start, |collections| {
        // SysTick every 2,000 core cycles while the collections run (not
        // while a phase fills the heap to the last byte); its handler
        // allocates and frees.
        let mut core_p = cortex_m::Peripherals::take().unwrap();
        core_p.SYST.set_clock_source(SystClkSource::Core);
        core_p.SYST.set_reload(2_000);
        core_p.SYST.clear_current();
        core_p.SYST.enable_interrupt();
        core_p.SYST.enable_counter();
        collections();
        core_p.SYST.disable_interrupt();
        core_p.SYST.disable_counter();
        let (ticks, ok) = (TICKS.load(Relaxed), TICK_ALLOCS_OK.load(Relaxed));
        hprintln!("interrupts: {} SysTick handlers allocated and freed through the heap", ok);
        check!(ticks > 0 && ok == ticks);
    })
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault at pc={:#010x}", ef.pc());
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("FAIL: panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
