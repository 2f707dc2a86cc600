//! The heaps' arenas (`MASU_ARENA_ABOVE`) under the Rust global allocator:
//! medium blocks made, grown, shrunk and freed across threads keep their
//! contents. The options are read once, at the first allocation, so the
//! test runs itself again in a child process with the option set. Only
//! with the `arenas` feature.
#![cfg(feature = "arenas")]

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

use std::process::Command;
use std::sync::mpsc;

const CHILD_DONE: &str = "arena child: all blocks checked";

/// A block filled with a pattern of its id.
fn block(id: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + id) as u8).collect()
}

fn check(id: usize, b: &[u8]) {
    for (i, &v) in b.iter().enumerate() {
        assert_eq!(v, (i * 31 + id) as u8, "block {id} byte {i}");
    }
}

/// Sizes from 1 KiB to 40 KiB: below, inside and above the arenas' range.
fn size(x: &mut u64) -> usize {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    1024 + (*x % (39 << 10)) as usize
}

fn child() {
    assert_eq!(
        masu::options().arena_above,
        2048,
        "the child runs without arenas"
    );
    let (tx, rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                let mut kept = Vec::new();
                for i in 0..3000 {
                    let id = t * 100_000 + i;
                    let mut b = block(id, size(&mut x));
                    if i % 5 == 0 {
                        // Grown and shrunk in place or moved: contents stay.
                        let len = b.len();
                        b.reserve(size(&mut x));
                        b.shrink_to(len);
                    }
                    if i % 2 == 0 {
                        tx.send((id, b)).unwrap();
                    } else {
                        kept.push((id, b));
                    }
                    if kept.len() > 64 {
                        let (id, b) = kept.swap_remove((x % 64) as usize);
                        check(id, &b);
                    }
                }
                for (id, b) in kept {
                    check(id, &b);
                }
            })
        })
        .collect();
    drop(tx);
    // This thread frees half of every worker's blocks.
    let mut n = 0;
    for (id, b) in rx {
        check(id, &b);
        n += 1;
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(n, 4 * 1500);
    masu::collect(true);
    println!("{CHILD_DONE}");
}

#[test]
fn medium_blocks_from_arenas_across_threads() {
    if std::env::var_os("MASU_ARENA_ABOVE").is_some() {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "medium_blocks_from_arenas_across_threads",
            "--nocapture",
        ])
        .env("MASU_ARENA_ABOVE", "2048")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains(CHILD_DONE), "{stdout}\n{stderr}");
}
