//! Request arenas: the time per request of a server-like request handler
//! that builds many small objects and drops them, with its allocations
//! from a `masu::Heap` reset after each request, from a `bumpalo::Bump`
//! reset after each request, and from the global allocator (masu, and
//! glibc in a child process).
//!
//! ```text
//! cargo run --release -p masu-bench --example arena [-- quick|full] [csv PATH]
//! target/release/examples/arena only VARIANT N   # N requests, one variant
//! target/release/examples/arena reset-cost        # reset against frees
//! ```
//!
//! (`only` is for instruction counts: run it under callgrind with two
//! values of N; the difference over the difference of N is the
//! instructions per request. For `glibc-global` set
//! `MASU_ARENA_GLOBAL=glibc`.)
//!
//! One request (`handle`), generic over its allocator: parse a request
//! text of about 1.5 KB (a request line with 16 query parameters, 24
//! headers, a form body of 24 fields) into owned byte strings, build two
//! hash maps over them (`hashbrown` with the allocator), then format a
//! response that echoes every header and field into a growing buffer
//! (with a small formatted string per line). About 250 allocations, most
//! of 8–64 bytes, and the growth of the maps and of the response. Every
//! object is dropped as usual at the end of `handle` (for a `Bump` a free
//! is a no-op unless it was the last block); then the arena is reset.
//! Each variant handles 64 distinct requests in turn; a round times
//! `REQUESTS` of them; the variants alternate round by round (the glibc
//! global allocator in a child process started per round); the median of
//! the rounds' ns per request is reported.

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec as AVec;
use core::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::Instant;

/// The global allocator: masu, or glibc's when `MASU_ARENA_GLOBAL=glibc`
/// (read once, before the first allocation, with `getenv`, which does not
/// allocate). Both pay the same predicted branch.
struct Switch;

static WHICH: AtomicU8 = AtomicU8::new(0);
static MASU: masu::Masu = masu::Masu::new();

#[inline(always)]
fn use_masu() -> bool {
    let w = WHICH.load(Relaxed);
    if w != 0 {
        return w == 1;
    }
    // SAFETY: a NUL-terminated name; the result is read before any other
    // thread exists.
    let glibc = unsafe {
        let v = libc::getenv(c"MASU_ARENA_GLOBAL".as_ptr());
        !v.is_null() && libc::strcmp(v, c"glibc".as_ptr()) == 0
    };
    WHICH.store(if glibc { 2 } else { 1 }, Relaxed);
    !glibc
}

// SAFETY: each call goes to one allocator, the same for the process's life.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            if use_masu() {
                MASU.alloc(l)
            } else {
                std::alloc::System.alloc(l)
            }
        }
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded; the block came from the same allocator.
        unsafe {
            if use_masu() {
                MASU.dealloc(p, l)
            } else {
                std::alloc::System.dealloc(p, l)
            }
        }
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            if use_masu() {
                MASU.realloc(p, l, n)
            } else {
                std::alloc::System.realloc(p, l, n)
            }
        }
    }
}

#[global_allocator]
static A: Switch = Switch;

type Bytes<A> = AVec<u8, A>;
type Map<K, V, A> = hashbrown::HashMap<K, V, hashbrown::DefaultHashBuilder, A>;

/// An owned copy of `s` in `a`.
fn own<A: Allocator + Copy>(s: &[u8], a: A) -> Bytes<A> {
    let mut v = AVec::with_capacity_in(s.len(), a);
    v.extend_from_slice(s);
    v
}

/// `s` lowercased, in `a`.
fn lower<A: Allocator + Copy>(s: &[u8], a: A) -> Bytes<A> {
    let mut v = AVec::with_capacity_in(s.len(), a);
    v.extend(s.iter().map(|b| b.to_ascii_lowercase()));
    v
}

/// `n` in decimal, as a small string of its own (as `format!` makes).
fn number<A: Allocator + Copy>(mut n: usize, a: A) -> Bytes<A> {
    let mut v = AVec::new_in(a);
    loop {
        v.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    v.reverse();
    v
}

/// Splits `s` at `sep` into owned parts (`key=value` pairs and the like).
fn pairs<A: Allocator + Copy>(s: &[u8], sep: u8, a: A) -> AVec<(Bytes<A>, Bytes<A>), A> {
    let mut out = AVec::new_in(a);
    for part in s.split(|&b| b == sep).filter(|p| !p.is_empty()) {
        let eq = part.iter().position(|&b| b == b'=').unwrap_or(part.len());
        let value = part.get(eq + 1..).unwrap_or(&[]);
        out.push((own(&part[..eq], a), own(value, a)));
    }
    out
}

/// Handles one request with every allocation from `a`; returns a checksum
/// of the response. With `teardown`, every object is dropped at the end
/// (block by block); without, the request's objects are left to the
/// arena's reset (the objects dropped on the way, such as the buffers that
/// growth replaces, are still freed one by one).
fn handle<A: Allocator + Copy>(req: &[u8], a: A, teardown: bool) -> usize {
    let hasher = hashbrown::DefaultHashBuilder::default();
    let mut lines = req.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or(&[]);
    let path_end = first.iter().position(|&b| b == b'?').unwrap_or(first.len());
    let path = own(&first[..path_end], a);
    let query = pairs(first.get(path_end + 1..).unwrap_or(&[]), b'&', a);
    let mut headers = AVec::new_in(a);
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let value = line.get(colon + 2..).unwrap_or(&[]);
        headers.push((lower(&line[..colon], a), own(value, a)));
    }
    let body = pairs(lines.next().unwrap_or(&[]), b'&', a);
    let mut by_name: Map<&[u8], usize, A> = Map::with_hasher_in(hasher.clone(), a);
    for (i, (k, _)) in headers.iter().enumerate() {
        by_name.insert(k.as_slice(), i);
    }
    let mut fields: Map<Bytes<A>, Bytes<A>, A> = Map::with_hasher_in(hasher, a);
    for (k, v) in query.iter().chain(body.iter()) {
        fields.insert(own(k, a), own(v, a));
    }
    let mut out: Bytes<A> = AVec::new_in(a);
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nx-path: ");
    out.extend_from_slice(&path);
    out.extend_from_slice(b"\r\n");
    for (k, v) in &headers {
        out.extend_from_slice(b"x-echo-");
        out.extend_from_slice(k);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(&i) = by_name.get(&b"content-type"[..]) {
        out.extend_from_slice(&headers[i].1);
    }
    out.extend_from_slice(b"\r\n\r\n{");
    for (i, (k, v)) in fields.iter().enumerate() {
        let n = number(v.len() * 31 + i, a);
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(&n);
        out.push(b',');
    }
    out.push(b'}');
    let sum = black_box(out.len() + out.iter().map(|&b| b as usize).sum::<usize>());
    if !teardown {
        // `by_name` borrows `headers`: forgotten first, the others after.
        core::mem::forget(by_name);
        core::mem::forget((path, query, headers, body, fields, out));
    }
    sum
}

/// 64 request texts, each with its own names, values and lengths.
fn requests() -> Vec<Vec<u8>> {
    let mut rng = masu_bench::Rng::with_seed(42);
    let mut word = |min: usize, max: usize| -> String {
        let n = rng.usize(min..=max);
        (0..n).map(|_| rng.alphanumeric()).collect()
    };
    (0..64)
        .map(|_| {
            let mut r = format!("/api/v1/{}/{}?", word(4, 12), word(4, 12));
            for _ in 0..16 {
                r += &format!("{}={}&", word(3, 10), word(1, 24));
            }
            r += "\n";
            for i in 0..24 {
                r += &format!("X-Header-{}-{i}: {}\n", word(3, 12), word(4, 48));
            }
            r += "Content-Type: application/x-www-form-urlencoded\n\n";
            for _ in 0..24 {
                r += &format!("{}={}&", word(3, 10), word(1, 32));
            }
            r.into_bytes()
        })
        .collect()
}

/// The variants, by the names in the output: an arena reset after each
/// request, with the request's objects dropped first or left to the reset
/// (`-reset-only`), or the global allocator.
const VARIANTS: [&str; 6] = [
    "masu-heap",
    "bumpalo",
    "masu-heap-reset-only",
    "bumpalo-reset-only",
    "masu-global",
    "glibc-global",
];

/// Runs `n` requests of variant `v` in this process: ns per request.
fn round(v: &str, reqs: &[Vec<u8>], n: usize) -> f64 {
    let t = Instant::now();
    let mut sum = 0usize;
    let teardown = !v.ends_with("-reset-only");
    if v.starts_with("masu-heap") {
        let mut heap = masu::Heap::new();
        for i in 0..n {
            sum += handle(&reqs[i % reqs.len()], &heap, teardown);
            heap.reset();
        }
    } else if v.starts_with("bumpalo") {
        let mut bump = bumpalo::Bump::new();
        for i in 0..n {
            sum += handle(&reqs[i % reqs.len()], &bump, teardown);
            bump.reset();
        }
    } else {
        for i in 0..n {
            sum += handle(&reqs[i % reqs.len()], Global, true);
        }
    }
    black_box(sum);
    t.elapsed().as_nanos() as f64 / n as f64
}

/// One round of the glibc variant in a fresh child process.
fn child_round(n: usize) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child", &n.to_string()])
        .env("MASU_ARENA_GLOBAL", "glibc")
        .output()
        .expect("run the glibc child");
    assert!(out.status.success(), "child failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// `reset-cost`: what a reset costs against freeing block by block, for
/// 10^4 to 10^6 live blocks of 32 bytes (medians of 5).
fn reset_cost() {
    println!(
        "{:>9} {:>6} {:>12} {:>14}",
        "blocks", "pages", "reset µs", "free each µs"
    );
    for n in [10_000usize, 100_000, 1_000_000] {
        let mut reset = Vec::new();
        let mut each = Vec::new();
        let mut pages = 0;
        let mut heap = masu::Heap::new();
        for _ in 0..5 {
            let mut v = AVec::with_capacity(n);
            for i in 0..n {
                v.push(allocator_api2::boxed::Box::new_in([i as u8; 32], &heap));
            }
            pages = heap.stats().pages_per_class.iter().sum::<u32>();
            let t = Instant::now();
            drop(v);
            each.push(t.elapsed().as_secs_f64() * 1e6);
            let mut v = AVec::with_capacity(n);
            for i in 0..n {
                v.push(allocator_api2::boxed::Box::new_in([i as u8; 32], &heap));
            }
            core::mem::forget(v);
            let t = Instant::now();
            heap.reset();
            reset.push(t.elapsed().as_secs_f64() * 1e6);
        }
        println!(
            "{n:>9} {pages:>6} {:>12.1} {:>14.1}",
            median(&mut reset),
            median(&mut each)
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reqs = requests();
    if args.first().map(String::as_str) == Some("only") {
        // `only VARIANT N`: one run, for instruction counts (callgrind).
        let n = args[2].parse().unwrap();
        println!("{}", round(&args[1], &reqs, n));
        return;
    }
    if args.first().map(String::as_str) == Some("reset-cost") {
        reset_cost();
        return;
    }
    if args.first().map(String::as_str) == Some("child") {
        let n = args[1].parse().unwrap();
        round("glibc-global", &reqs, n / 10); // warm-up
        println!("{}", round("glibc-global", &reqs, n));
        return;
    }
    let full = args.iter().any(|a| a == "full");
    let csv = args
        .iter()
        .position(|a| a == "csv")
        .map(|i| args[i + 1].clone());
    let (rounds, n) = if full { (11, 40_000) } else { (5, 10_000) };
    for v in &VARIANTS[..5] {
        round(v, &reqs, n / 10); // warm-up
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for r in 0..rounds {
        for k in 0..VARIANTS.len() {
            // Alternate the order too: round r starts at variant r.
            let i = (k + r) % VARIANTS.len();
            let ns = if VARIANTS[i] == "glibc-global" {
                child_round(n)
            } else {
                round(VARIANTS[i], &reqs, n)
            };
            times[i].push(ns);
        }
    }
    let med: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let mut text = String::from("variant,ns_per_request,over_bumpalo,rounds,requests_per_round\n");
    println!("{:<14} {:>14} {:>12}", "variant", "ns/request", "× bumpalo");
    for (i, v) in VARIANTS.iter().enumerate() {
        let ratio = med[i] / med[1];
        println!("{v:<14} {:>14.0} {ratio:>12.2}", med[i]);
        text += &format!("{v},{:.1},{ratio:.3},{rounds},{n}\n", med[i]);
    }
    if let Some(path) = csv {
        std::fs::write(&path, text).expect("write the csv");
    }
}
