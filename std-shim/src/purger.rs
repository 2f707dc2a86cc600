//! The background purger: a thread that gives back, while the program makes
//! no allocator call, the memory that the heaps of exited threads keep
//! waiting for its purge delay (`MASU_EXIT_RETAIN`, empty pages kept for
//! their class, free slices, the segment cache), once `MASU_EXIT_HOLD`
//! since the exit has passed, and collects the blocks
//! that live threads free into those heaps' pages.
//!
//! * **Lazily started**: by the first thread exit that leaves memory
//!   waiting in its heap (`Heap::has_pending_release`); a program whose
//!   threads never exit, or never leave anything waiting, starts none.
//!   `MASU_BACKGROUND=0` (or a purge delay of `-1`) starts none.
//! * **Nothing on the fast paths**: it works only on idle heaps, under the
//!   pool lock (`POOL.for_each_idle`): a thread that starts meanwhile
//!   waits for the lock, then adopts the heap whole. `masu::collect_abandoned`
//!   collects idle heaps without the lock, on a detached idle list whose
//!   slots are marked in use, so the purger's walk skips them. The heaps of live threads are their owners' alone (their
//!   fast paths take no lock), so the purger never touches them.
//! * **Work, then sleep**: a pass runs `collect(false)` on every idle heap
//!   but those whose `MASU_EXIT_HOLD` lasts (their due purges, their empty
//!   pages, other threads' frees into their pages); while any still has
//!   memory waiting, the next pass follows a purge delay later; otherwise
//!   it sleeps on a futex until the next thread exit with memory waiting,
//!   the end of the first hold, or a second (frees by live threads into
//!   idle heaps' pages wake nobody).
//! * **fork**: the child has no purger thread; `after_fork_in_child` marks
//!   it not started, so the child's next thread exit with memory waiting
//!   starts one. The fork handlers take the pool lock, which the purger
//!   holds only during a pass and never while it waits for anything else.
//!
//! A lock-free protocol, generic over its atomics so that the loom models
//! in `loom-tests/` run this code: [`Starter`] (exactly one thread starts
//! the purger); the purger sleeps on `wakeup.rs`'s notices.

use crate::options;
use crate::sync::{Atomic, Ordering};
use crate::wakeup;
use core::sync::atomic::AtomicBool;

/// Claims the start of the purger: one claim wins until `reset`.
pub struct Starter<A = AtomicBool> {
    started: A,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl Starter {
    /// Not started, over `core`'s atomics.
    pub const fn new() -> Self {
        Starter {
            started: AtomicBool::new(false),
        }
    }
}

impl<A: Atomic<bool>> Starter<A> {
    /// Not started, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        Starter {
            started: A::new(false),
        }
    }

    /// True for the one caller that is to start the purger.
    pub fn claim(&self) -> bool {
        self.started
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Not started (after a failed start, or in a `fork` child).
    pub fn reset(&self) {
        self.started.store(false, Ordering::Release);
    }
}

static STARTER: Starter = Starter::new();
/// Passes made (a counter for the report and the tests).
static PASSES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Pages of live threads' heaps that other threads had emptied, freed by
/// the purger (a counter for the report and the tests).
static LIVE_PAGES_FREED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Bytes of the insides of free blocks of live threads' heaps given back
/// by the purger (a counter for the report and the tests).
static LIVE_BYTES_DISCARDED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// True while the purger is not started or may go to sleep: the owners'
/// slow paths then wake it ([`wake_for_live_heap`]). Cleared by the one
/// that wakes it, set by the purger before each pass. A hint only: a wake
/// lost to a race costs at most the second that the purger sleeps at most.
static SLEEPING: AtomicBool = AtomicBool::new(true);
/// `membarrier` works: the purger may go through live heaps' gates.
static LIVE_OK: AtomicBool = AtomicBool::new(false);

/// Passes the background purger made over the idle heaps so far (0: it
/// never started; see `MASU_BACKGROUND`).
pub fn passes() -> u64 {
    PASSES.load(core::sync::atomic::Ordering::Relaxed)
}

/// Pages of live threads' heaps that the background purger freed after
/// other threads had freed every block of them, while their owners made no
/// heap call (see `Heap::release_while_owner_idle`).
pub fn live_pages_freed() -> u64 {
    LIVE_PAGES_FREED.load(core::sync::atomic::Ordering::Relaxed)
}

/// Bytes of the insides of free blocks of live threads' heaps that the
/// background purger gave back to the system while their owners made no
/// heap call (see `idle_discard.rs` in masu-core).
pub fn live_bytes_discarded() -> u64 {
    LIVE_BYTES_DISCARDED.load(core::sync::atomic::Ordering::Relaxed)
}

/// Memory waits in the calling thread's live heap, or it freed another
/// heap's block: wake the purger if it may sleep, starting it if need be
/// (after `before_start`: see [`notify`]). Called after a heap call,
/// outside it; one load when the purger is awake.
#[inline]
pub(crate) fn wake_for_live_heap(before_start: fn()) {
    if SLEEPING.load(core::sync::atomic::Ordering::Relaxed) {
        wake_slow(before_start);
    }
}

#[cold]
#[inline(never)]
fn wake_slow(before_start: fn()) {
    if SLEEPING.swap(false, core::sync::atomic::Ordering::Relaxed) {
        notify(before_start);
    }
}

/// Memory waits in an idle heap: tell the purger, starting it if need be,
/// after calling `before_start` (the `fork` handlers' registration, which
/// a second thread needs and which lives above this module). Called outside
/// every heap call (at thread exit, after the heap went back to the pool).
pub(crate) fn notify(before_start: fn()) {
    if !options::background() {
        return;
    }
    wakeup::give();
    if STARTER.claim() && !start(before_start) {
        STARTER.reset();
        return;
    }
    wakeup::wake_sleeper();
}

/// The child of a `fork` has no purger thread.
pub(crate) fn after_fork_in_child() {
    STARTER.reset();
    // The parent's purger would have unmapped these; the child has none.
    crate::deferred_release::set_taker(false);
    crate::deferred_release::unmap_waiting();
    SLEEPING.store(true, core::sync::atomic::Ordering::Relaxed);
    LIVE_OK.store(false, core::sync::atomic::Ordering::Relaxed);
}

/// Calls `before_start`, then starts the purger thread; false when the
/// thread could not be made.
fn start(before_start: fn()) -> bool {
    before_start();
    spawn()
}

/// Starts the purger thread (detached, every signal blocked so that no
/// handler ever runs on it); false when the thread could not be made.
fn spawn() -> bool {
    // SAFETY: attr and the thread id are valid out-pointers; `run` has the
    // signature pthread_create wants and never returns.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return false;
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 64 << 10);
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut tid: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut tid, &attr, run, core::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        rc == 0
    }
}

/// The purger thread.
extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    let delay = options::options().purge_delay_ms.clamp(1, 1000) as u64;
    // From now on, reservations released anywhere are this thread's to
    // unmap (each pass first unmaps what waits).
    crate::deferred_release::set_taker(true);
    let live = crate::gate::register_membarrier();
    LIVE_OK.store(live, core::sync::atomic::Ordering::Relaxed);
    if !live {
        options::verbose_event(
            b"membarrier is missing: the purger leaves live threads' heaps alone",
        );
    }
    let mut nap = MAX_NAP_MS;
    loop {
        if let Err(seq) = wakeup::take() {
            wakeup::sleep(seq, nap);
            if wakeup::moved(seq) {
                continue; // a notice came: take it
            }
            // A nap without notice: a hold ended, or a second passed (passes
            // look for frees by live threads into idle heaps' pages, which
            // wake nobody).
        }
        // The first pass after waking looks at every live heap, and so
        // does one a second after: other threads' frees may have emptied
        // pages of a heap found with nothing to do.
        let mut last_thorough = crate::platform::clock_ms();
        let mut thorough = true;
        loop {
            let wait = match pass(thorough) {
                Next::Pass(wait) => wait,
                Next::Nap(ms) => {
                    nap = ms;
                    break;
                }
            };
            sleep_ms(wait.max(delay));
            let now = crate::platform::clock_ms();
            thorough = now.wrapping_sub(last_thorough) >= 1000;
            if thorough {
                last_thorough = now;
            }
        }
    }
}

/// The longest the purger sleeps without a notice, in milliseconds.
const MAX_NAP_MS: u64 = 1000;

/// What the purger does after a pass.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    /// Another pass, this many milliseconds later (at least the purge
    /// delay): memory waits for its delay, or owners were busy.
    Pass(u64),
    /// Sleep until a notice, at most this many milliseconds: nothing waits
    /// but heaps whose hold (`MASU_EXIT_HOLD`) ends then, or nothing at all.
    Nap(u64),
}

/// After a pass that found `idle` and `live`: memory waiting for its purge
/// delay passes again a delay later, busy owners 100 ms later (they purge
/// on their own slow paths; the next pass looks whether they went idle);
/// held heaps alone let the purger sleep until the first hold ends (it
/// passed every purge delay through the hold before), nothing a second.
fn next_after(idle: crate::pool::IdlePass, live: crate::pool::LivePass) -> Next {
    if idle.waiting || live.waiting {
        Next::Pass(0)
    } else if live.active {
        Next::Pass(100)
    } else {
        // One millisecond more: the hold has ended when the clock reads
        // its end.
        Next::Nap(
            idle.held_ms
                .map_or(MAX_NAP_MS, |ms| (ms + 1).min(MAX_NAP_MS)),
        )
    }
}

/// One pass over the idle heaps and, with `membarrier`, the heaps of live
/// threads that went idle (all of them if `thorough`, the first pass after
/// the purger wakes; else not those found with nothing to do since their
/// owner's last heap call). Returns what to do next ([`next_after`]).
// Out of line, as are the pool's passes it calls: inlined into `run`
// (a 13 KB function) they took 1.9 KB more of libmasu.so's text, for
// code that runs a few times a second (114,075 -> 112,143 bytes).
#[inline(never)]
fn pass(thorough: bool) -> Next {
    use core::sync::atomic::Ordering::Relaxed;
    // Set before the heaps are looked at: an owner whose memory starts to
    // wait after its heap was looked at wakes the purger again.
    SLEEPING.store(true, Relaxed);
    crate::deferred_release::unmap_waiting();
    let idle = crate::pool::purge_idle_heaps();
    let live = if LIVE_OK.load(Relaxed) {
        crate::pool::purge_live_heaps(thorough)
    } else {
        crate::pool::LivePass::default()
    };
    PASSES.fetch_add(1, Relaxed);
    LIVE_PAGES_FREED.fetch_add(live.pages_freed as u64, Relaxed);
    LIVE_BYTES_DISCARDED.fetch_add(live.discarded as u64, Relaxed);
    let next = next_after(idle, live);
    if let Next::Pass(_) = next {
        SLEEPING.store(false, Relaxed);
    }
    next
}

fn sleep_ms(ms: u64) {
    let ts = crate::platform::timespec_ms(ms);
    // SAFETY: a valid timespec; an interrupted sleep is merely shorter.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::{next_after, Next, MAX_NAP_MS};
    use crate::pool::{IdlePass, LivePass};

    fn idle(waiting: bool, held_ms: Option<u64>) -> IdlePass {
        IdlePass { waiting, held_ms }
    }

    #[test]
    fn held_heaps_alone_let_the_purger_sleep_until_the_first_hold_ends() {
        let quiet = LivePass::default();
        // Before, a held heap made the purger pass every purge delay
        // through the whole hold (30 passes in the default 300 ms).
        assert_eq!(next_after(idle(false, Some(250)), quiet), Next::Nap(251));
        assert_eq!(next_after(idle(false, Some(0)), quiet), Next::Nap(1));
        // A hold longer than a nap: the purger looks again after a nap.
        assert_eq!(
            next_after(idle(false, Some(86_400_000)), quiet),
            Next::Nap(MAX_NAP_MS)
        );
        assert_eq!(next_after(idle(false, None), quiet), Next::Nap(MAX_NAP_MS));
    }

    #[test]
    fn memory_waiting_or_busy_owners_keep_the_purger_passing() {
        let quiet = LivePass::default();
        let waiting = LivePass {
            waiting: true,
            ..LivePass::default()
        };
        let busy = LivePass {
            active: true,
            ..LivePass::default()
        };
        assert_eq!(next_after(idle(true, Some(250)), quiet), Next::Pass(0));
        assert_eq!(next_after(idle(false, Some(250)), waiting), Next::Pass(0));
        assert_eq!(next_after(idle(false, Some(250)), busy), Next::Pass(100));
        assert_eq!(next_after(idle(true, None), busy), Next::Pass(0));
    }
}
