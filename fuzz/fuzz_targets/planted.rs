//! An example of fuzzing a program with masu's `checks` as its global
//! allocator (the recipe: docs/fuzzing.md): a small parser of records with
//! two bugs planted behind input conditions, which libFuzzer must find and
//! masu must stop with its message.
//!
//! * **Off by one** (`PLANTED=overflow` or unset): a record `N`, whose
//!   payload starts with `0x7f` and is at least 4 bytes, is copied into a
//!   buffer of exactly its length and a terminator is written one byte past
//!   its end (the bug). masu's redzone catches it when the buffer is freed:
//!   `masu: buffer overflow of 0x…`.
//! * **Use after free** (`PLANTED=uaf` or unset): a record `F` whose payload
//!   starts with `u` and is at least 2 bytes keeps a pointer into the
//!   buffer it frees, and writes through it once the input is parsed.
//!   masu fills and quarantines freed blocks; the `check_quarantine` this
//!   target calls after every input finds the write:
//!   `masu: write after free of 0x…`.
//!
//! Built with the `masu-global` feature (with `checks`) masu is this
//! binary's `#[global_allocator]`: run it with `--sanitizer none`, so that
//! masu's checks alone find the bugs. Without the feature the system
//! allocator serves the target, for AddressSanitizer (cargo-fuzz's default
//! sanitizer) to find them: the comparison in docs/fuzzing.md.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[cfg(feature = "masu-global")]
#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// Which planted bugs are armed (the `PLANTED` environment variable:
/// `overflow`, `uaf`, `none`, or both when unset), so that the time to find
/// each, and the speed with none, can be measured on their own.
fn armed() -> (bool, bool) {
    static ARMED: OnceLock<(bool, bool)> = OnceLock::new();
    *ARMED.get_or_init(|| match std::env::var("PLANTED").as_deref() {
        Ok("overflow") => (true, false),
        Ok("uaf") => (false, true),
        Ok("none") => (false, false),
        _ => (true, true),
    })
}

/// A record: a tag byte, a length byte, then that many payload bytes.
fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&tag, rest) = data.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = (len as usize).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        data = rest;
        Some((tag, payload))
    })
}

/// The code under test: keeps the names (`N` records) and lengths it
/// parses, as a program would.
fn parse(data: &[u8]) -> usize {
    let (overflow, uaf) = armed();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut stale: Option<*mut u8> = None;
    for (tag, payload) in records(data) {
        match tag {
            b'N' => {
                let mut name = Vec::with_capacity(payload.len());
                name.extend_from_slice(payload);
                if overflow && payload.len() >= 4 && payload[0] == 0x7f {
                    // The planted off-by-one: a terminator one byte past
                    // the buffer.
                    // SAFETY: none: this is the bug the fuzzer must find.
                    unsafe { name.as_mut_ptr().add(payload.len()).write(0) };
                }
                names.push(name);
            }
            b'F' => {
                let buf = payload.to_vec();
                if uaf && buf.len() >= 2 && buf[0] == b'u' {
                    // The planted use after free: a pointer kept past the
                    // buffer's drop.
                    stale = Some(buf.as_ptr() as *mut u8);
                }
                drop(buf);
            }
            _ => {}
        }
    }
    if let Some(p) = stale {
        // SAFETY: none: the parser's summary is written into the freed
        // buffer (the bug).
        unsafe { p.write(names.len() as u8 ^ 0x55) };
    }
    names.iter().map(Vec::len).sum()
}

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(parse(data));
    // With masu: verify the blocks freed recently (this thread's
    // quarantine) after each input, so that a write after free is
    // reported on the input that made it (else masu finds it when the
    // block leaves the quarantine or is handed out again, under a later
    // input). `masu::check_heap()` would verify every block, live ones'
    // redzones too, at a cost proportional to the heap (5 times slower
    // here).
    #[cfg(feature = "masu-global")]
    masu::check_quarantine();
});
