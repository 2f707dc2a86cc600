//! The workload programs of the benchmark runner (`masu-bench`).
//!
//! Each workload runs in a child process of the runner, so that the
//! allocator can be chosen per process: the `masu-work` binary uses the
//! system allocator (`malloc`), which `LD_PRELOAD` replaces by glibc's,
//! mimalloc's, jemalloc's, tcmalloc's or masu's; `masu-work-masu`,
//! `masu-work-mimalloc` and `masu-work-jemalloc` are the same program with
//! a `#[global_allocator]`. All of them call [`main`].
//!
//! ```text
//! masu-work WORKLOAD [quick|full] [KEY=VALUE ...]
//! ```
//!
//! A workload prints `phase NAME t_ms=… rss_kb=…` lines as it goes (flushed
//! at once: the runner timestamps them) and one closing line
//! `result workload=… ops=… secs=… checksum=… corrupt=… [KEY=VALUE …]`.
//! `secs` is the time of the measured phase (setup excluded); `checksum`
//! folds the size and probed bytes of every block freed and is the same for
//! every correct allocator, whatever the thread interleaving (a wrapping
//! sum); `corrupt` counts probes that did not read what was written.
//!
//! Blocks come from `std::alloc` (`alloc`, `realloc`, `dealloc`, alignment
//! 8), which is the `#[global_allocator]`, or `malloc` in `masu-work`.

use std::alloc::Layout;
use std::io::Write as _;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub use crate::Rng;

mod burst_idle;
mod dist;
mod large;
mod pairs;
mod pause_burst;
mod producer_consumer;
mod random_mt;
mod realloc_grow;
mod server;
mod thread_churn;
mod tiny;

/// Every workload, by the name the runner and the command line use.
pub const WORKLOADS: &[&str] = &[
    "dist",
    "dist-touch",
    "server",
    "producer-consumer",
    "random-mt",
    "realloc-grow",
    "large",
    "burst-idle",
    "thread-churn",
];

/// Extra programs that are not part of the comparison table: `tiny` (one
/// small allocation, for the fixed overhead), `pairs` (malloc/free pairs
/// for callgrind) and `pause-burst` (bursts after idle pauses).
pub const TOOLS: &[&str] = &["tiny", "pairs", "pause-burst"];

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Scaled down for the short comparison.
    Quick,
    /// The sizes the issue asks for.
    Full,
}

/// The parsed command line of a workload: its scale and `KEY=VALUE`
/// overrides.
#[derive(Debug)]
pub struct Args {
    /// Quick or full.
    pub scale: Scale,
    params: Vec<(String, String)>,
}

impl Args {
    /// `KEY=VALUE` as a number, else the default of the scale.
    pub fn get(&self, key: &str, quick: u64, full: u64) -> u64 {
        match self.params.iter().find(|(k, _)| k == key) {
            Some((_, v)) => v
                .parse()
                .unwrap_or_else(|_| fail(&format!("{key}={v}: not a number"))),
            None => match self.scale {
                Scale::Quick => quick,
                Scale::Full => full,
            },
        }
    }

    /// `KEY=VALUE` as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("masu-work: {msg}");
    std::process::exit(2)
}

/// The entry point of the workload binaries.
pub fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = argv.first() else {
        fail(&format!(
            "usage: masu-work WORKLOAD [quick|full] [KEY=VALUE ...]\nworkloads: {} (tools: {})",
            WORKLOADS.join(", "),
            TOOLS.join(", ")
        ));
    };
    let mut args = Args {
        scale: Scale::Full,
        params: Vec::new(),
    };
    for a in &argv[1..] {
        match a.as_str() {
            "quick" => args.scale = Scale::Quick,
            "full" => args.scale = Scale::Full,
            kv => match kv.split_once('=') {
                Some((k, v)) => args.params.push((k.to_string(), v.to_string())),
                None => fail(&format!("unexpected argument {kv:?}")),
            },
        }
    }
    now_ms();
    // The first line allocates stdout's buffer, before any measurement.
    out(format_args!("start workload={name}"));
    let r = match name.as_str() {
        "dist" => dist::run(&args),
        "dist-touch" => dist::run_touch(&args),
        "server" => server::run(&args),
        "producer-consumer" => producer_consumer::run(&args),
        "random-mt" => random_mt::run(&args),
        "realloc-grow" => realloc_grow::run(&args),
        "large" => large::run(&args),
        "burst-idle" => burst_idle::run(&args),
        "thread-churn" => thread_churn::run(&args),
        "tiny" => tiny::run(&args),
        "pairs" => pairs::run(&args),
        "pause-burst" => pause_burst::run(&args),
        other => fail(&format!("unknown workload {other:?}")),
    };
    let mut line = format!(
        "result workload={name} ops={} secs={:.6} checksum={:#018x} corrupt={} hwm_kb={}",
        r.ops,
        r.secs,
        r.checksum,
        r.corrupt,
        hwm_kb()
    );
    for (k, v) in &r.extra {
        line.push_str(&format!(" {k}={v}"));
    }
    out(format_args!("{line}"));
    if r.corrupt != 0 {
        std::process::exit(3);
    }
}

/// What a workload reports.
#[derive(Debug, Default)]
pub struct Report {
    /// Operations in the measured phase.
    pub ops: u64,
    /// Seconds of the measured phase.
    pub secs: f64,
    /// Wrapping sum of [`fold`] over every block freed.
    pub checksum: u64,
    /// Probes that read something else than was written (must be 0).
    pub corrupt: u64,
    /// Workload-specific figures.
    pub extra: Vec<(&'static str, String)>,
}

/// Prints one line on stdout and flushes it. Allocates nothing once stdout's
/// buffer exists (the first line makes it).
pub fn out(args: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    // A closed pipe only loses the line.
    let _ = o.write_fmt(args);
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

/// The process's start, for `phase` timestamps.
static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Milliseconds since the first call (made at start-up by [`phase`]).
pub fn now_ms() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Prints a `phase` line with the time and the resident set size.
pub fn phase(name: &str) -> u64 {
    let rss = rss_kb();
    out(format_args!(
        "phase {name} t_ms={:.1} rss_kb={rss}",
        now_ms()
    ));
    rss
}

/// Prints masu's statistics report (with its breakdown of the committed
/// bytes) now, when the allocator in front is `libmasu.so` (which exports
/// `masu_stats_print`); does nothing under any other allocator. For the
/// `snapshot=OP` parameter of the workloads that take it.
pub fn masu_snapshot() {
    // SAFETY: dlsym with a NUL-terminated name; the symbol, when found, is
    // libmasu's `extern "C" fn()`.
    unsafe {
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"masu_stats_print".as_ptr());
        if !f.is_null() {
            let f: extern "C" fn() = std::mem::transmute(f);
            f();
        }
    }
}

/// This process's resident set in KiB, from `/proc/self/statm`, without
/// allocating (the path fits std's on-stack C string buffer; the read goes
/// to a stack array): reading it must not run the allocator's slow paths.
pub fn rss_kb() -> u64 {
    use std::io::Read as _;
    let Ok(mut f) = std::fs::File::open("/proc/self/statm") else {
        return 0;
    };
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).unwrap_or(0);
    let mut fields = buf[..n].split(|&b| b == b' ');
    let _size = fields.next();
    let pages = fields
        .next()
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page / 1024
}

/// This process's peak resident set (`VmHWM` of `/proc/self/status`) in
/// KiB, read into a stack buffer. (`ru_maxrss` as the parent sees it also
/// counts the parent's own pages between `fork` and `exec`.)
pub fn hwm_kb() -> u64 {
    use std::io::Read as _;
    let Ok(mut f) = std::fs::File::open("/proc/self/status") else {
        return 0;
    };
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let text = &buf[..n];
    let key = b"VmHWM:";
    let Some(at) = text.windows(key.len()).position(|w| w == key) else {
        return 0;
    };
    text[at + key.len()..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |v, b| v * 10 + (b - b'0') as u64)
}

/// A block from the allocator under test, with its size and the byte it was
/// filled with. `Send`: workloads hand blocks to other threads to free.
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    size: usize,
    tag: u8,
}

// SAFETY: a Block owns its allocation exclusively; global allocators accept
// frees from any thread.
unsafe impl Send for Block {}

/// Alignment of every block.
pub const ALIGN: usize = 8;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, ALIGN).expect("block size fits a Layout")
}

impl Block {
    /// Allocates `size > 0` bytes and fills all of them with `tag`.
    pub fn new(size: usize, tag: u8) -> Block {
        let b = Block::new_untouched(size, tag);
        // SAFETY: a fresh block of `size` bytes.
        unsafe { b.ptr.as_ptr().write_bytes(tag, size) };
        b
    }

    /// Allocates `size > 0` bytes and writes `tag` at the first byte, the
    /// last, and one byte in every 4 KiB between (each page becomes
    /// resident without the cost of filling it).
    pub fn new_touched(size: usize, tag: u8) -> Block {
        let b = Block::new_untouched(size, tag);
        let mut off = 0;
        while off < size {
            // SAFETY: `off < size`.
            unsafe { b.ptr.as_ptr().add(off).write_volatile(tag) };
            off += 4096;
        }
        // SAFETY: `size > 0`.
        unsafe { b.ptr.as_ptr().add(size - 1).write(tag) };
        b
    }

    fn new_untouched(size: usize, tag: u8) -> Block {
        let l = layout(size);
        // SAFETY: `size > 0`.
        let p = unsafe { std::alloc::alloc(l) };
        let Some(ptr) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(l)
        };
        Block { ptr, size, tag }
    }

    /// The block's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Reads the first and last bytes, counts those that are not the tag,
    /// and returns the block's [`fold`].
    fn probe(&self, corrupt: &mut u64) -> u64 {
        // SAFETY: the block is live and `size > 0` bytes long.
        let (first, last) = unsafe {
            (
                self.ptr.as_ptr().read(),
                self.ptr.as_ptr().add(self.size - 1).read(),
            )
        };
        *corrupt += (first != self.tag) as u64 + (last != self.tag) as u64;
        fold(self.size, first, last)
    }

    /// Probes the block, adds its fold to `sum` and frees it.
    pub fn free(self, sum: &mut Sum) {
        sum.checksum = sum.checksum.wrapping_add(self.probe(&mut sum.corrupt));
        // SAFETY: allocated with this layout and freed once (`self` is
        // consumed).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout(self.size)) };
    }

    /// Resizes the block with `realloc`; the kept bytes are probed and the
    /// new ones filled with the tag.
    pub fn realloc(&mut self, new_size: usize, corrupt: &mut u64) {
        let old = self.size;
        // SAFETY: the block is live with this layout; `new_size > 0` fits.
        let p = unsafe { std::alloc::realloc(self.ptr.as_ptr(), layout(old), new_size) };
        let Some(ptr) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(layout(new_size))
        };
        self.ptr = ptr;
        self.size = new_size;
        let kept = old.min(new_size);
        // SAFETY: the first `kept` bytes were kept, the rest is ours.
        unsafe {
            let first = ptr.as_ptr().read();
            let last = ptr.as_ptr().add(kept - 1).read();
            *corrupt += (first != self.tag) as u64 + (last != self.tag) as u64;
            if new_size > old {
                ptr.as_ptr().add(old).write_bytes(self.tag, new_size - old);
            }
        }
    }
}

/// A running checksum and corruption count.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum {
    /// Wrapping sum of folds.
    pub checksum: u64,
    /// Bad probes.
    pub corrupt: u64,
}

impl Sum {
    /// Adds another thread's sum.
    pub fn add(&mut self, o: Sum) {
        self.checksum = self.checksum.wrapping_add(o.checksum);
        self.corrupt += o.corrupt;
    }

    /// Adds a sum kept in shared atomics (see [`SharedSum`]).
    pub fn add_shared(&mut self, o: &SharedSum) {
        self.add(o.get());
    }
}

/// A [`Sum`] several threads add to.
#[derive(Debug, Default)]
pub struct SharedSum {
    checksum: AtomicU64,
    corrupt: AtomicU64,
}

impl SharedSum {
    /// Adds `s`.
    pub fn add(&self, s: Sum) {
        self.checksum.fetch_add(s.checksum, Ordering::Relaxed);
        self.corrupt.fetch_add(s.corrupt, Ordering::Relaxed);
    }

    /// The total so far.
    pub fn get(&self) -> Sum {
        Sum {
            checksum: self.checksum.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
        }
    }
}

/// One block's contribution to the checksum (order-independent once summed).
pub fn fold(size: usize, first: u8, last: u8) -> u64 {
    let mut h = (size as u64) ^ ((first as u64) << 40) ^ ((last as u64) << 48);
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// A tag byte (never 0, so untouched zero memory does not pass a probe).
pub fn tag(rng: &mut Rng) -> u8 {
    (rng.u64(..) >> 56) as u8 | 1
}

/// A value in `lo..=hi`.
pub fn between(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    lo + rng.u64(..(hi - lo + 1) as u64) as usize
}

/// A size in `lo..=hi`, log-uniform: each power of two in the range is as
/// likely as the next, uniform inside it.
pub fn log_uniform(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    let lo_bits = usize::BITS - lo.leading_zeros() - 1;
    let hi_bits = usize::BITS - hi.leading_zeros() - 1;
    let b = lo_bits + rng.u64(..(hi_bits - lo_bits + 1) as u64) as u32;
    let from = (1usize << b).max(lo);
    let to = ((1usize << (b + 1)) - 1).min(hi);
    between(rng, from, to)
}

/// Seconds since `t`.
pub fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// A seed for thread `i` of a workload.
pub fn seed(workload: u64, i: u64) -> u64 {
    (workload ^ 0x6d61_7375_6265_6e63).wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Per-thread inboxes of blocks other threads hand over to be freed.
pub struct Inboxes {
    boxes: Vec<std::sync::Mutex<Vec<Block>>>,
}

impl Inboxes {
    /// One inbox per thread.
    pub fn new(threads: usize) -> Inboxes {
        Inboxes {
            boxes: (0..threads)
                .map(|_| std::sync::Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// Moves `batch` into thread `to`'s inbox.
    pub fn send(&self, to: usize, batch: &mut Vec<Block>) {
        self.boxes[to].lock().unwrap().append(batch);
    }

    /// Frees everything in thread `me`'s inbox; returns how many blocks.
    pub fn drain(&self, me: usize, sum: &mut Sum) -> u64 {
        let taken = std::mem::take(&mut *self.boxes[me].lock().unwrap());
        let n = taken.len() as u64;
        for b in taken {
            b.free(sum);
        }
        n
    }
}

/// Runs `f(i, start)` on `threads` threads. Each does its setup, then waits
/// on `start`; the time runs from there until the last thread has finished.
/// Returns the sum of the threads' sums and the seconds.
pub fn timed_threads<F>(threads: usize, f: F) -> (Sum, f64)
where
    F: Fn(usize, &std::sync::Barrier) -> Sum + Sync,
{
    let start = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (f, start) = (&f, &start);
                s.spawn(move || f(i, start))
            })
            .collect();
        start.wait();
        let t = Instant::now();
        let mut sum = Sum::default();
        for h in handles {
            sum.add(h.join().expect("workload thread panicked"));
        }
        (sum, secs(t))
    })
}
