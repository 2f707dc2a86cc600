//! The background purger (`MASU_BACKGROUND`, on by default): memory that an
//! exited thread's heap keeps (up to `MASU_EXIT_RETAIN`) goes back to the
//! OS while the program makes no allocator call; blocks a live thread frees
//! into an idle heap's pages come back too; a `fork` child starts its own.

use std::time::{Duration, Instant};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// The tests share the process's heaps and purger: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits up to 3 s for `done`, sleeping (no allocator call) in between.
fn wait_for(mut done: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        if done() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The committed bytes once they have stopped moving for 300 ms (at most
/// 3 s): the purger may still be giving back what an earlier step (or
/// test) freed, which would hide what the next step retains. The idle
/// heaps are trimmed first: an exited thread's heap keeps its memory for
/// `MASU_EXIT_HOLD` (300 ms), long enough to look settled, and the next
/// thread would adopt it with that memory.
fn settled_committed_bytes() -> usize {
    masu::collect_abandoned(true);
    let t = Instant::now();
    let mut last = masu::os_stats().committed_bytes;
    let mut since = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
        let now = masu::os_stats().committed_bytes;
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(300) {
            break;
        }
    }
    last
}

/// A thread that allocates about 8 MiB of small and medium blocks, frees
/// them and exits: its heap keeps them committed (below the exit retain).
fn churn_and_exit() {
    std::thread::spawn(|| {
        let blocks: Vec<Vec<u8>> = (0..4000).map(|i| vec![1u8; 500 + (i % 7) * 500]).collect();
        drop(blocks);
    })
    .join()
    .unwrap();
}

#[test]
fn an_exited_threads_retained_memory_goes_back_while_the_program_sleeps() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    // A purge delay longer than the churn takes in a debug build with
    // `checks` (which fills every block it carves and frees): with the
    // default 10 ms, pages emptied early in the churn go back before the
    // exit, and less is retained than this test needs to see.
    masu::set_purge_delay_ms(Some(100)).unwrap();
    // A first exit leaves an idle heap (which a later thread adopts with
    // whatever it still holds): let its memory go back first.
    churn_and_exit();
    let before = settled_committed_bytes();
    churn_and_exit();
    let retained = masu::os_stats().committed_bytes;
    assert!(
        retained > before + (4 << 20),
        "{before} -> {retained}: nothing retained at exit"
    );
    // Nothing allocates from here on: only the purger can give it back.
    let took = wait_for(|| masu::os_stats().committed_bytes < before + (1 << 20));
    println!(
        "retained {} KiB, back in {took:?}",
        (retained - before) >> 10
    );
    assert!(
        took.is_some(),
        "still {} bytes committed",
        masu::os_stats().committed_bytes
    );
    assert!(masu::purger_passes() > 0);
}

#[test]
fn an_exited_threads_memory_stays_through_the_exit_hold_then_goes() {
    // `MASU_EXIT_HOLD`: what a thread leaves at its exit is not purged for
    // its delay while the hold lasts (a thread started meanwhile adopts it
    // as it was); after the hold the purger gives it back.
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    masu::set_purge_delay_ms(Some(100)).unwrap();
    let base = settled_committed_bytes();
    // Long enough that a loaded machine's sleep below stays inside it.
    masu::set_exit_hold_ms(Some(2000)).unwrap();
    churn_and_exit();
    let kept = masu::os_stats().committed_bytes;
    // Twenty purge delays: without the hold the purger takes it back now.
    std::thread::sleep(Duration::from_millis(400));
    let held = masu::os_stats().committed_bytes;
    let took = wait_for(|| masu::os_stats().committed_bytes < base + (1 << 20));
    masu::set_exit_hold_ms(Some(masu::DEFAULT_EXIT_HOLD_MS)).unwrap();
    masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    println!(
        "base {} KiB, kept {} KiB, {} KiB after 400 ms, back {took:?} later",
        base >> 10,
        kept >> 10,
        held >> 10
    );
    assert!(
        kept > base + (4 << 20),
        "nothing kept at exit: {base} -> {kept}"
    );
    assert!(
        held + (1 << 20) >= kept,
        "purged during the hold: {kept} -> {held}"
    );
    assert!(took.is_some(), "not given back after the hold: {held}");
}

#[test]
fn a_short_pause_keeps_a_live_threads_memory_a_long_one_gives_it_back() {
    // `MASU_IDLE_HOLD` (300 ms): the purger leaves a live thread that
    // paused for less alone, so the burst after the pause finds its memory;
    // past the hold, the memory goes back while the thread still sleeps.
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    // What earlier tests' exited threads kept goes back first.
    settled_committed_bytes();
    // A purge delay below the hold but longer than the burst's frees take
    // (slow with `checks` in a debug build): the owner purges nothing of
    // the burst before it goes idle.
    masu::set_purge_delay_ms(Some(250)).unwrap();
    let base = masu::os_stats().committed_bytes;
    let (freed_tx, freed_rx) = std::sync::mpsc::channel::<()>();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        // 40 MiB: more than an adopted heap may have kept (`MASU_EXIT_RETAIN`).
        let blocks: Vec<Vec<u8>> = (0..20_000)
            .map(|i| vec![3u8; 500 + (i % 7) * 500])
            .collect();
        drop(blocks);
        freed_tx.send(()).unwrap();
        // Alive and idle: no allocator call until told to end.
        end_rx.recv().unwrap();
    });
    freed_rx.recv().unwrap();
    let held = masu::os_stats().committed_bytes;
    assert!(
        held > base + (4 << 20),
        "the burst committed too little: {base} then {held}"
    );
    // A pause of half the hold: nothing is taken (a slow machine only
    // makes the purger later).
    std::thread::sleep(Duration::from_millis(150));
    let after_short = masu::os_stats().committed_bytes;
    let took = wait_for(|| masu::os_stats().committed_bytes < base + (held - base) / 4);
    end_tx.send(()).unwrap();
    worker.join().unwrap();
    masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    println!(
        "base {} KiB, held {} KiB, {} KiB after 150 ms, back {took:?} later",
        base >> 10,
        held >> 10,
        after_short >> 10
    );
    assert!(
        after_short + (held - base) / 8 >= held,
        "the purger took a heap idle for less than its hold: {after_short} of {held} bytes"
    );
    if !cfg!(feature = "checks") {
        // (With `checks` the quarantine holds freed blocks as live.)
        assert!(took.is_some(), "never given back past the hold");
    }
}

#[test]
fn blocks_a_live_thread_frees_into_an_idle_heap_come_back() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    // A thread allocates 8 MiB, hands the blocks over and exits; its heap,
    // idle now, holds them all live.
    let blocks = std::thread::spawn(|| (0..2000).map(|_| vec![2u8; 4000]).collect::<Vec<_>>())
        .join()
        .unwrap();
    let held = masu::os_stats().committed_bytes;
    // This thread frees them: remote frees into the idle heap's pages,
    // published by the flush (a thread that goes quiet flushes its batch).
    drop(blocks);
    masu::flush_remote_frees();
    let took = wait_for(|| masu::os_stats().committed_bytes + (6 << 20) < held);
    println!("held {} KiB, back in {took:?}", held >> 10);
    assert!(
        took.is_some(),
        "still {} of {held} bytes committed",
        masu::os_stats().committed_bytes
    );
}

#[test]
fn a_fork_child_starts_its_own_purger() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    churn_and_exit(); // the parent's purger runs
                      // SAFETY: the child only allocates through masu (whose fork handlers
                      // leave it usable), spawns a thread and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let before = masu::os_stats().committed_bytes;
        let passes = masu::purger_passes();
        churn_and_exit();
        let ok = wait_for(|| {
            masu::purger_passes() > passes && masu::os_stats().committed_bytes < before + (1 << 20)
        })
        .is_some();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child: {status}"
    );
}

/// Issue 11's two-thread burst, small: two threads each build 24 MiB of
/// small and medium blocks, free them all (half each by the other thread),
/// then stay alive and make no allocator call. The purger gives back the
/// pages the other thread emptied and the freed memory past the purge delay,
/// through the live heaps' gates (`Heap::release_while_owner_idle`).
#[test]
fn memory_two_live_threads_freed_goes_back_while_they_sleep() {
    use std::sync::{mpsc, Arc, Barrier};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    // The heaps of threads that earlier tests ended go back first, so that
    // their memory does not pass for this test's.
    let base = settled_committed_bytes();
    let freed_before = masu::purger_live_pages_freed();
    let built = Arc::new(Barrier::new(3));
    let freed = Arc::new(Barrier::new(3));
    let (wake_tx, wake_rx) = (0..2)
        .map(|_| mpsc::channel::<()>())
        .unzip::<_, _, Vec<_>, Vec<_>>();
    let (to_other, from_other): (Vec<_>, Vec<_>) =
        (0..2).map(|_| mpsc::channel::<Vec<Vec<u8>>>()).unzip();
    let mut from_other = from_other.into_iter();
    let mut to_other = to_other.into_iter();
    let (tx0, tx1) = (to_other.next().unwrap(), to_other.next().unwrap());
    let (rx0, rx1) = (from_other.next().unwrap(), from_other.next().unwrap());
    let mut threads = Vec::new();
    for (id, (give, take), wake) in [(0usize, (tx1, rx0)), (1, (tx0, rx1))]
        .into_iter()
        .zip(wake_rx)
        .map(|((id, gt), w)| (id, gt, w))
    {
        let (built, freed) = (built.clone(), freed.clone());
        threads.push(std::thread::spawn(move || {
            let mut mine: Vec<Vec<u8>> = (0..12_000)
                .map(|i| vec![id as u8; 64 + (i * 37 + id * 11) % 4000])
                .collect();
            let theirs: Vec<Vec<u8>> = mine.drain(..6_000).collect();
            give.send(theirs).unwrap();
            let other = take.recv().unwrap();
            built.wait();
            drop(mine);
            drop(other); // remote frees into the other thread's pages
            masu::flush_remote_frees();
            freed.wait();
            // Alive and idle: no allocator call until told to end.
            wake.recv().unwrap();
        }));
    }
    built.wait();
    let held = masu::os_stats().committed_bytes;
    freed.wait();
    let took = wait_for(|| masu::os_stats().committed_bytes < base + (held - base) / 4);
    let after = masu::os_stats().committed_bytes;
    // The purger adds a pass's freed pages to the count when the pass ends,
    // after the memory it freed may already have gone.
    wait_for(|| masu::purger_live_pages_freed() > freed_before);
    let live_pages = masu::purger_live_pages_freed() - freed_before;
    for w in wake_tx {
        w.send(()).unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "base {} KiB, held {} KiB, back to {} KiB in {took:?}, {live_pages} pages of live heaps freed",
        base >> 10,
        held >> 10,
        after >> 10
    );
    if cfg!(feature = "checks") {
        // With `checks` a page's remote frees are not counted in its
        // `thread_free` word, so the purger frees no page of a live heap
        // (masu-core's `idle_release.rs`): the quarantine and the checks of
        // collected blocks are the owner's.
        assert_eq!(live_pages, 0);
        return;
    }
    assert!(
        took.is_some(),
        "still {after} of {held} bytes committed (base {base})"
    );
    assert!(live_pages > 0, "no page other threads emptied was freed");
}

/// The resident set of the process, from `/proc/self/statm`.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A live thread frees three of every four of its 30 KiB blocks (one of
/// them through another thread) and sleeps: no page empties, so none can go
/// back, but the purger gives back the insides of the free blocks on the
/// owner's and the remote lists (masu-core's `idle_discard.rs`): the
/// process's resident set falls by most of the freed bytes, and the blocks
/// still live keep their contents.
#[test]
fn insides_of_free_blocks_of_a_sleeping_thread_go_back() {
    use std::sync::mpsc;
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let discarded_before = masu::purger_live_bytes_discarded() as usize;
    let (to_main, from_worker) = mpsc::channel::<Vec<Vec<u8>>>();
    let (wake, woken) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        // One class (32 KiB blocks): each page's four are made one after
        // another, so every page keeps a live block.
        let blocks: Vec<Vec<u8>> = (0..800).map(|i| vec![(i % 251) as u8; 30 << 10]).collect();
        // Of every four: the owner frees two (`local_free`), another thread
        // one (`thread_free`), one stays live.
        let (mut remote, mut kept) = (Vec::new(), Vec::new());
        for (i, b) in blocks.into_iter().enumerate() {
            match i % 4 {
                2 => remote.push(b),
                3 => kept.push(b),
                _ => drop(b),
            }
        }
        to_main.send(remote).unwrap();
        done_tx.send(()).unwrap();
        // Alive and idle: no allocator call until told to end.
        woken.recv().unwrap();
        kept
    });
    let remote = from_worker.recv().unwrap();
    done_rx.recv().unwrap();
    let freed_bytes: usize = remote.iter().map(|b| b.len()).sum::<usize>() * 3;
    let rss_before = resident_bytes();
    drop(remote); // remote frees into the sleeping thread's pages
    masu::flush_remote_frees();
    let took = wait_for(|| {
        masu::purger_live_bytes_discarded() as usize - discarded_before > freed_bytes / 2
    });
    let discarded = masu::purger_live_bytes_discarded() as usize - discarded_before;
    let rss_after = resident_bytes();
    wake.send(()).unwrap();
    let kept = worker.join().unwrap();
    println!(
        "freed about {} KiB; {} KiB of insides discarded in {took:?}; resident {} -> {} KiB",
        freed_bytes >> 10,
        discarded >> 10,
        rss_before >> 10,
        rss_after >> 10
    );
    for (k, b) in kept.iter().enumerate() {
        let i = 4 * k + 3;
        assert!(
            b.iter().all(|&x| x == (i % 251) as u8),
            "a live block changed"
        );
    }
    if cfg!(feature = "checks") {
        // `checks` verifies a fill in freed blocks when they are handed
        // out again: it discards nothing.
        assert_eq!(discarded, 0);
        return;
    }
    assert!(
        took.is_some(),
        "{discarded} of about {freed_bytes} freed bytes discarded"
    );
    assert!(
        rss_after + discarded / 2 < rss_before,
        "resident {rss_before} -> {rss_after} with {discarded} bytes discarded"
    );
}

/// Threads make small blocks with a pattern, free two of every three (half
/// of those through another thread) and sleep past the purger's look at
/// idle heaps, which parks the freed runs of their pages and gives their
/// memory back; then they check the blocks they kept and allocate again
/// over the parked runs, zeroed allocations reading zero. Three rounds.
#[test]
fn blocks_kept_and_made_around_parked_runs_stay_intact() {
    use std::sync::{mpsc, Arc, Barrier};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let discarded_before = masu::purger_live_bytes_discarded();
    const THREADS: usize = 2;
    let barrier = Arc::new(Barrier::new(THREADS));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<Vec<Vec<u8>>>())
        .unzip();
    let mut rxs: Vec<Option<mpsc::Receiver<Vec<Vec<u8>>>>> = rxs.into_iter().map(Some).collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|id| {
            let (to_next, from_prev) = (txs[(id + 1) % THREADS].clone(), rxs[id].take().unwrap());
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut bad = 0usize;
                for round in 0..3u8 {
                    let tag = |i: usize| (i as u8).wrapping_mul(31) ^ round | 1;
                    let blocks: Vec<Vec<u8>> = (0..12_000)
                        .map(|i| vec![tag(i); 16 + (i * 7919) % 1000])
                        .collect();
                    let (mut kept, mut give) = (Vec::new(), Vec::new());
                    for (i, b) in blocks.into_iter().enumerate() {
                        match i % 6 {
                            0 | 1 => kept.push((i, b)),
                            2 | 3 => give.push(b),
                            _ => drop(b),
                        }
                    }
                    to_next.send(give).unwrap();
                    drop(from_prev.recv().unwrap());
                    barrier.wait();
                    // Idle past `MASU_IDLE_HOLD` (300 ms) and a pass or two:
                    // the purger parks what the frees left.
                    std::thread::sleep(Duration::from_millis(700));
                    bad += kept
                        .iter()
                        .filter(|(i, b)| b.iter().any(|&x| x != tag(*i)))
                        .count();
                    let again: Vec<Vec<u8>> = (0..6_000)
                        .map(|i| vec![0u8; 16 + (i * 104_729) % 1000])
                        .collect();
                    bad += again.iter().filter(|b| b.iter().any(|&x| x != 0)).count();
                    bad += kept
                        .iter()
                        .filter(|(i, b)| b.iter().any(|&x| x != tag(*i)))
                        .count();
                }
                bad
            })
        })
        .collect();
    drop(txs);
    let bad: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let discarded = masu::purger_live_bytes_discarded() - discarded_before;
    println!(
        "{} KiB given back from the sleeping threads' heaps",
        discarded >> 10
    );
    assert_eq!(bad, 0, "a kept block changed, or a zeroed block was not");
    if cfg!(not(any(feature = "checks", feature = "secure"))) {
        // (With `checks` the purger gives back nothing in place; with
        // `secure` only the insides of blocks above 4 KiB.)
        assert!(
            discarded > 1 << 20,
            "the purger gave back {discarded} bytes"
        );
    }
}
