//! The process's and the threads' life cycle around the heap pool: start-up
//! (options, the thread-exit key, the fault handler), a thread's attach and
//! exit, the `fork` handlers and the exit report. The layer above the pool,
//! the purger and the report: it wires them together, and none of them
//! reaches back up here.
//!
//! # `fork` handlers, when first needed
//!
//! The handlers hold the pool lock across `fork` (so that a child never
//! starts with another thread's hold on it) and reset the purger's state in
//! the child. A process that has never had a second thread needs neither:
//! its one thread cannot be inside the pool lock when it forks, and it has
//! no purger. Registering them costs such a process a page of libc's
//! read-only data that `pthread_atfork` reads, and the kernel maps 64 KiB of
//! the file around it (`docs/results/issue11/README.md`), so
//! [`ensure_fork_handlers`] registers them when first needed:
//!
//! * in [`attach`], before the thread takes a heap from the pool, when the
//!   process has more than one thread ([`platform::single_threaded`] is
//!   false; always where the C library cannot tell): every thread but a
//!   process's first attaches after `pthread_create` made that false, so
//!   the handlers are in before any second thread first takes the pool
//!   lock;
//! * before the purger thread starts (`purger::notify`'s `before_start`).
//!
//! A `fork` in between finds no second thread in the pool lock and no
//! purger. If `pthread_atfork` allocates, that allocation attaches the
//! thread first (the registration is claimed before the call), which
//! `attach` allows for.

use crate::options;
use crate::platform;
use crate::pool;
use crate::purger;
use crate::spin::Once;
use crate::thread_slot::{current, gone, idle, is_slot, set_current, with_heap, Slot};
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32};

static INIT: Once = Once::new();
static HOOKS: AtomicBool = AtomicBool::new(false);
static KEY: AtomicU32 = AtomicU32::new(0);
static KEY_OK: AtomicBool = AtomicBool::new(false);

/// A copy of stderr taken at start-up for the exit report: programs often
/// close stderr in their own exit handlers (coreutils' `close_stdout`),
/// which run before ours.
static EXIT_FD: AtomicI32 = AtomicI32::new(-1);

/// Reads the options and creates the thread-exit key, once. Allocates
/// nothing, so it is safe to run inside the first `malloc`.
#[inline]
pub fn init() {
    if !INIT.is_done() {
        init_slow();
    }
}

#[cold]
#[inline(never)]
fn init_slow() {
    INIT.call(|| {
        options::load_from_env();
        if options::stats_at_exit() {
            keep_stderr_for_exit();
        }
        platform::page_size();
        pool::seed_heaps();
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-pointer; the destructor has the
        // required signature. glibc's pthread_key_create does not allocate.
        if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
            KEY.store(key, Relaxed);
            KEY_OK.store(true, Relaxed);
        } else {
            options::verbose_event(
                b"pthread_key_create failed: heaps of exited threads are not reused",
            );
        }
        #[cfg(any(feature = "checks", feature = "secure"))]
        masu_core::check::set_fault_handler(crate::fault::fault_abort);
    });
}

/// Registers the `fork` handlers, once (see the module documentation for
/// when they are needed).
pub(crate) fn ensure_fork_handlers() {
    if !pool::claim_fork_handlers() {
        return;
    }
    // SAFETY: the handlers are `extern "C" fn()` that never unwind.
    unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
}

/// Registers the exit report (and, with `checks` or `secure`, the exit
/// check), once. These calls may allocate, so they run after the calling
/// thread is attached.
pub fn register_hooks() {
    if HOOKS.load(Relaxed) || HOOKS.swap(true, Relaxed) {
        return;
    }
    // SAFETY: the handlers are `extern "C" fn()` that never unwind.
    unsafe {
        if options::stats_at_exit() {
            libc::atexit(print_at_exit);
        }
        #[cfg(any(feature = "checks", feature = "secure"))]
        if options::exit_check() {
            libc::atexit(check_at_exit);
        }
    }
}

/// With `checks` or `secure` (and `MASU_EXIT_CHECK`): the exiting thread's
/// heap verified at exit (with `checks`, every block: an overflow of a
/// block never freed, a write into a freed block never reused; with
/// `secure`, the first `EXIT_CHECK_FREE_BLOCKS` free blocks' tags and
/// links).
#[cfg(any(feature = "checks", feature = "secure"))]
extern "C" fn check_at_exit() {
    crate::heap_check::check_heap_bounded(crate::heap_check::EXIT_CHECK_FREE_BLOCKS);
}

/// Gives the calling thread a heap; returns its slot (null when out of
/// memory). Called when [`current`] is the `IDLE` sentinel.
#[cold]
#[inline(never)]
pub(crate) fn attach() -> *mut Slot {
    init();
    let s = current();
    if s != idle() {
        return s;
    }
    if !platform::single_threaded() {
        ensure_fork_handlers();
        // Registering may have allocated, and so attached this thread.
        let s = current();
        if s != idle() {
            return s;
        }
    }
    let (s, adopted) = pool::take_slot();
    if s.is_null() {
        return s;
    }
    set_current(s);
    if KEY_OK.load(Relaxed) {
        // SAFETY: the key is valid. With a high key number glibc may calloc
        // here; that call finds the slot already set and uses it.
        unsafe { libc::pthread_setspecific(KEY.load(Relaxed), s as *const libc::c_void) };
    }
    if adopted {
        // SAFETY: the thread holds `s` now, in no heap call.
        unsafe { with_heap(s, |h| h.collect(false)) };
    }
    register_hooks();
    s
}

/// The `pthread_key_create` destructor: collect and give the heap back,
/// then wake the background purger if the heap still has memory waiting
/// for its purge delay.
unsafe extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let s = value as *mut Slot;
    if !is_slot(s) {
        return;
    }
    // SAFETY: the key's value is the slot this thread holds.
    let waiting = unsafe {
        with_heap(s, |h| {
            pool::retire_heap(h);
            h.has_pending_release()
        })
    };
    if current() == s {
        set_current(gone());
    }
    // SAFETY: the thread gives up `s` and no longer reaches it (its slot
    // word is GONE).
    unsafe { pool::release_slot(s) };
    pool::count_thread_exit();
    if waiting {
        purger::notify(ensure_fork_handlers);
    }
}

extern "C" fn fork_prepare() {
    pool::lock_for_fork();
}

extern "C" fn fork_parent() {
    // SAFETY: `fork_prepare` took the lock in this thread.
    unsafe { pool::unlock_after_fork(false) };
}

extern "C" fn fork_child() {
    // SAFETY: the lock was taken by `fork_prepare` in the parent's forking
    // thread, which is this thread in the child.
    unsafe { pool::unlock_after_fork(true) };
    purger::after_fork_in_child();
}

/// Keeps a private copy of stderr for the exit report (no allocation).
fn keep_stderr_for_exit() {
    // SAFETY: fcntl on fd 2 has no memory-safety preconditions.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    EXIT_FD.store(fd, Relaxed);
}

/// The `atexit` handler of `MASU_STATS=1`.
extern "C" fn print_at_exit() {
    let fd = EXIT_FD.load(Relaxed);
    crate::process_stats::print_to(if fd >= 0 { fd } else { 2 });
}
