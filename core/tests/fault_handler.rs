//! A replaced fault handler receives the fault with its kind and pointer.
#![cfg(feature = "checks")]

#[macro_use]
mod common;

use core::alloc::Layout;
use masu_core::check::{set_fault_handler, Fault, FaultKind};
use masu_core::{Config, FixedRegion, Heap};

fn handler(f: &Fault) -> ! {
    assert_eq!(f.kind, FaultKind::DoubleFree);
    panic!("custom handler saw {:?} at {:#x}", f.kind, f.ptr)
}

#[test]
#[should_panic(expected = "custom handler saw DoubleFree")]
fn installed_handler_is_called() {
    set_fault_handler(handler);
    let mut h = Heap::new(
        FixedRegion::from_slice(common::region(1 << 20)),
        Config::FIXED_REGION,
    );
    let l = Layout::new::<[u64; 4]>();
    let p = h.alloc(l);
    let _keep = h.alloc(l);
    // SAFETY: deliberate double free.
    unsafe {
        h.dealloc(p, l);
        h.dealloc(p, l);
    }
}
