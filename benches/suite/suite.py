#!/usr/bin/env python3
"""Runs tests of the public mimalloc-bench suite under several allocators.

masu does not ship, build or fetch mimalloc-bench: build its `bench/`
folder yourself with its own CMake file (see benches/suite/README.md) and
point `--bench-dir` at the folder that holds the binaries. This script only
runs them, each under each allocator through LD_PRELOAD, allocators
alternating run by run (so slow drift of the machine spreads over all of
them), and writes the medians:

  docs/results/suite/runs.csv     every run: test, allocator, rep, time, rss
  docs/results/suite/summary.csv  medians per test and allocator
  docs/results/suite/table.md     the table: time and peak RSS, ratio to best
  docs/results/suite/results.json the same, for programs

Time is the test's own figure where it reports one (larson, rptest,
xmalloc-test, glibc-thread: the same conversions as the suite's bench.sh),
else wall-clock seconds. Peak RSS is the test's maximum resident set
(GNU time's %M).
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# name -> (command line relative to the bench dir, parser of its output).
# `{procs}` is replaced by --procs; `{src}` by the suite's bench/ sources.


def parse_larson(out):
    m = re.search(r"time:\s*([0-9.]+)", out)
    return float(m.group(1)) if m else None


def parse_rptest(out):
    m = re.search(r"\.\.\.([0-9]+) memory ops", out)
    return 2000000.0 / float(m.group(1)) if m else None


def parse_xmalloc(out):
    m = re.search(r"rtime:\s*([0-9.]+)", out)
    return float(m.group(1)) if m else None


def parse_glibc_thread(out):
    m = re.match(r"\s*([0-9.]+)", out)
    return 1e9 / float(m.group(1)) if m else None


TESTS = {
    "cfrac": ("./cfrac 17545186520507317056371138836327483792789528", None),
    "espresso": ("./espresso {src}/espresso/largest.espresso", None),
    "barnes": ("./barnes < {src}/barnes/input", None),
    "alloc-test1": ("./alloc-test 1", None),
    "alloc-testN": ("./alloc-test {procs}", None),
    "larsonN": ("./larson 5 8 1000 5000 100 4141 {procs}", parse_larson),
    "larsonN-sized": ("./larson-sized 5 8 1000 5000 100 4141 {procs}", parse_larson),
    "xmalloc-testN": ("./xmalloc-test -w {procs} -t 5 -s 64", parse_xmalloc),
    "cache-scratch1": ("./cache-scratch 1 1000 1 2000000 {procs}", None),
    "cache-scratchN": ("./cache-scratch {procs} 1000 1 2000000 {procs}", None),
    "cache-thrash1": ("./cache-thrash 1 1000 1 2000000 {procs}", None),
    "cache-thrashN": ("./cache-thrash {procs} 1000 1 2000000 {procs}", None),
    "malloc-large": ("./malloc-large", None),
    "mstressN": ("./mstress {procs} 50 25", None),
    "mstressN-long": ("./mstress {procs} 50 250", None),
    "mleak10": ("./mleak 5", None),
    "mleak100": ("./mleak 50", None),
    "rptestN": ("./rptest {procs} 0 1 2 500 1000 100 8 16000", parse_rptest),
    "glibc-simple": ("./glibc-simple", None),
    "glibc-thread": ("./glibc-thread {procs}", parse_glibc_thread),
}

# The threaded tests of issue 10.
THREADED = [
    "rptestN",
    "xmalloc-testN",
    "larsonN",
    "larsonN-sized",
    "glibc-thread",
    "alloc-testN",
    "alloc-test1",
    "mstressN",
    "mstressN-long",
]

SINGLE = ["cfrac", "espresso", "barnes", "glibc-simple"]


def is_masu(name):
    """masu itself and earlier builds of it (`masu-0.1`, ...): never the rival."""
    return name == "masu" or name.startswith("masu-")

# Allocators looked for by default (missing ones are skipped).
DEBIAN = {
    "glibc": "",
    "mimalloc2": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench-dir", required=True, help="folder of the built mimalloc-bench binaries")
    p.add_argument("--src-dir", help="mimalloc-bench's bench/ sources (inputs); default: guessed")
    p.add_argument(
        "--tests",
        default="threaded",
        help="comma list, or 'threaded', 'single', 'issue10' (both), 'all'",
    )
    p.add_argument(
        "--alloc",
        action="append",
        default=[],
        help="NAME=PATH of a preloadable library (repeatable); PATH empty = the system malloc",
    )
    p.add_argument("--masu", default=os.path.join(ROOT, "target/release/libmasu.so"))
    p.add_argument("--no-debian", action="store_true", help="do not add Debian's allocator packages")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", default=os.path.join(ROOT, "docs/results/suite"))
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for every run")
    return p.parse_args()


def allocators(args):
    allocs = []
    if not args.no_debian:
        for name, path in DEBIAN.items():
            if path == "" or os.path.exists(path):
                allocs.append((name, path))
            else:
                print(f"suite: {name} skipped ({path} missing)", file=sys.stderr)
    if args.masu:
        if not os.path.exists(args.masu):
            sys.exit(f"suite: {args.masu} missing: cargo build --release -p masu-capi")
        # Absolute: the tests run in the bench folder, where a relative
        # LD_PRELOAD path finds nothing and the run silently uses glibc.
        allocs.append(("masu", os.path.abspath(args.masu)))
    for spec in args.alloc:
        name, _, path = spec.partition("=")
        if path and not os.path.exists(path):
            sys.exit(f"suite: {name}: {path} missing")
        path = os.path.abspath(path) if path else path
        allocs = [a for a in allocs if a[0] != name] + [(name, path)]
    return allocs


def test_list(spec):
    if spec == "threaded":
        return THREADED
    if spec == "single":
        return SINGLE
    if spec == "issue10":
        return THREADED + SINGLE
    if spec == "all":
        return list(TESTS)
    names = spec.split(",")
    for n in names:
        if n not in TESTS:
            sys.exit(f"suite: unknown test {n}; known: {', '.join(TESTS)}")
    return names


def run_one(args, src, test, lib):
    """One run: (figure, peak RSS in KiB, error or None)."""
    cmd, parser = TESTS[test]
    cmd = cmd.format(procs=args.procs, src=src)
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    # GNU time forks the test from a small process and reports that
    # child's own peak RSS. Forking it from here instead would carry this
    # Python process's resident set into the child's ru_maxrss (Linux keeps
    # the high-water mark across exec). LD_PRELOAD goes to the test alone.
    if lib:
        cmd = f"env LD_PRELOAD={lib} {cmd}"
    rfile = TIME_FILE
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "%e %M", "-o", rfile, "/bin/sh", "-c", "exec " + cmd],
        cwd=args.bench_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, None, "timeout"
    wall = time.monotonic() - t0
    text = out.decode(errors="replace")
    rss_kib = None
    try:
        with open(rfile) as f:
            last = f.read().strip().splitlines()[-1].split()
        wall, rss_kib = float(last[0]), int(last[1])
    except (OSError, IndexError, ValueError):
        pass
    if proc.returncode != 0:
        return None, rss_kib, f"exit {proc.returncode}: {text[-300:]}"
    value = parser(text) if parser else wall
    if value is None:
        return None, rss_kib, f"no figure in output: {text[-300:]}"
    return value, rss_kib, None


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        d = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return c.stdout.strip() + ("+dirty" if d.stdout.strip() else "")
    except OSError:
        return "unknown"


# GNU time's output, outside the results folder.
TIME_FILE = os.path.join(tempfile.mkdtemp(prefix="masu-suite-"), "time")


def main():
    args = parse_args()
    # The commit the results belong to, read before anything is written.
    args.commit = commit()
    src = args.src_dir or os.path.normpath(os.path.join(args.bench_dir, "..", "..", "bench"))
    tests = test_list(args.tests)
    allocs = allocators(args)
    os.makedirs(args.out, exist_ok=True)
    runs = []
    for test in tests:
        for rep in range(args.runs):
            # Alternate the order each rep so no allocator always runs first.
            order = allocs if rep % 2 == 0 else list(reversed(allocs))
            for name, lib in order:
                value, rss, err = run_one(args, src, test, lib)
                if err:
                    print(f"suite: {test} {name} rep {rep}: {err}", file=sys.stderr)
                runs.append({"test": test, "allocator": name, "rep": rep, "time": value, "rss_kib": rss})
                shown = f"{value:.3f}" if value is not None else "-"
                print(f"{test:>15} {name:>10} rep {rep}: time {shown}  rss {rss} KiB", flush=True)
    write_results(args, tests, allocs, runs)


def medians(runs, tests, allocs):
    out = {}
    for t in tests:
        for a, _ in allocs:
            times = [r["time"] for r in runs if r["test"] == t and r["allocator"] == a and r["time"] is not None]
            rss = [r["rss_kib"] for r in runs if r["test"] == t and r["allocator"] == a and r["rss_kib"] is not None]
            out[(t, a)] = (
                statistics.median(times) if times else None,
                statistics.median(rss) if rss else None,
                len(times),
            )
    return out


def write_results(args, tests, allocs, runs):
    med = medians(runs, tests, allocs)
    names = [a for a, _ in allocs]
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["test", "allocator", "rep", "time", "rss_kib"])
        w.writeheader()
        w.writerows(runs)
    rows = []
    for t in tests:
        times = {a: med[(t, a)][0] for a in names if med[(t, a)][0] is not None}
        best = min(times.values()) if times else None
        best_name = min(times, key=times.get) if times else "-"
        others = {a: v for a, v in times.items() if not is_masu(a)}
        best_other = min(others.values()) if others else None
        for a in names:
            tm, rs, n = med[(t, a)]
            rows.append(
                {
                    "test": t,
                    "allocator": a,
                    "time": tm,
                    "rss_kib": rs,
                    "runs": n,
                    "time_vs_best": (tm / best) if tm and best else None,
                    "time_vs_best_other": (tm / best_other) if tm and best_other else None,
                    "best": best_name,
                }
            )
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": args.commit,
        "runs": args.runs,
        "procs": args.procs,
        "allocators": {a: p for a, p in allocs},
        "env": args.env,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": rows}, f, indent=1)
    write_table(args, tests, names, med, meta)


def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio_of(a, b):
    return a / b if (a and b) else None


def write_table(args, tests, names, med, meta):
    # Earlier builds of masu (`masu-0.1`, ...): a before/after column each.
    earlier = [a for a in names if is_masu(a) and a != "masu"]
    lines = [
        "# mimalloc-bench tests under each allocator",
        "",
        f"{meta['date']}, masu at {meta['commit']}, {meta['machine']}; procs = {meta['procs']},"
        f" medians of {meta['runs']} runs, allocators alternating, LD_PRELOAD."
        + (f" Environment: {' '.join(meta['env'])}." if meta["env"] else ""),
        "",
        "Time in seconds (the test's own figure where it reports one), lower is better;"
        " `×best` is masu's time over the fastest other allocator's (earlier masu builds are"
        " not rivals; `masu ×masu-…` compares with one).",
        "",
        "| test | " + " | ".join(names) + " | best other | masu ×best |"
        + "".join(f" masu ×{b} |" for b in earlier),
        "|---|" + "---:|" * (len(names) + 2 + len(earlier)),
    ]
    for t in tests:
        others = {a: med[(t, a)][0] for a in names if not is_masu(a) and med[(t, a)][0] is not None}
        best = min(others, key=others.get) if others else None
        m = med.get((t, "masu"), (None, None, 0))[0]
        ratio = m / others[best] if (m and best) else None
        cells = [fmt(med[(t, a)][0]) for a in names]
        before = [ratio_of(m, med[(t, b)][0]) for b in earlier]
        lines.append(
            f"| {t} | " + " | ".join(cells) + f" | {best or '-'} | {fmt(ratio, 2)} |"
            + "".join(f" {fmt(r, 2)} |" for r in before)
        )
    lines += [
        "",
        "Peak RSS (MiB, maximum resident set from GNU time), lower is better; `×low` is masu's over the lowest other allocator's.",
        "",
        "| test | " + " | ".join(names) + " | masu ×low |" + "".join(f" masu ×{b} |" for b in earlier),
        "|---|" + "---:|" * (len(names) + 1 + len(earlier)),
    ]
    for t in tests:
        others = [med[(t, a)][1] for a in names if not is_masu(a) and med[(t, a)][1]]
        m = med.get((t, "masu"), (None, None, 0))[1]
        ratio = m / min(others) if (m and others) else None
        cells = [fmt(med[(t, a)][1] / 1024 if med[(t, a)][1] else None, 1) for a in names]
        before = [ratio_of(m, med[(t, b)][1]) for b in earlier]
        lines.append(
            f"| {t} | " + " | ".join(cells) + f" | {fmt(ratio, 2)} |"
            + "".join(f" {fmt(r, 2)} |" for r in before)
        )
    lines.append("")
    lines.append("Allocators: " + "; ".join(f"{a}: `{p or 'system malloc'}`" for a, p in meta["allocators"].items()))
    lines.append("")
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
