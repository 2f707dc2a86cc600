//! `tiny`: one small allocation (on top of what the Rust runtime itself
//! allocates at start-up), then report the resident set and exit: the fixed
//! cost of an allocator in a process that hardly uses it.

use super::{phase, Args, Block, Report, Sum};

pub fn run(args: &Args) -> Report {
    let b = Block::new(16, 0x5a);
    let rss = phase("allocated");
    // `hold_ms=N` keeps the process (and the block) alive for a look at
    // /proc/PID/smaps.
    let hold = args.get("hold_ms", 0, 0);
    if hold > 0 {
        std::thread::sleep(std::time::Duration::from_millis(hold));
    }
    let mut sum = Sum::default();
    b.free(&mut sum);
    Report {
        ops: 1,
        secs: 0.0,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![("rss_kb", rss.to_string())],
    }
}
