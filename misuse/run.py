#!/usr/bin/env python3
"""Runs masu's misuse suite (see README.md): every program of this folder,
at every size, under every allocator given, and writes what each allocator
let continue.

    misuse/run.py --lib NAME=PATH ... [--sizes 8,4096,262144] [--out DIR]

NAME=glibc with an empty PATH runs without LD_PRELOAD. Writes DIR/runs.csv
(program, size, allocator, outcome, exit status, first line of stderr) and
DIR/table.md, and prints the totals. Outcomes: "stopped" (the program did
not reach its end: the allocator aborted it, or it crashed), "at-exit" (it
reached its end and the allocator stopped it at exit: the process fails,
with the allocator's message), "continued" (it ran and exited normally),
and for reuse_immediate "protected" (the freed block was not handed out
again at once). Every outcome but "continued" counts as caught.
"""
import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(bin_dir: Path) -> list:
    """Compiles every program (at -O0, so that each misuse stays as
    written); returns their names."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for src in sorted(HERE.glob("*.c")) + sorted(HERE.glob("*.cpp")):
        out = bin_dir / src.stem
        cc = "g++" if src.suffix == ".cpp" else "gcc"
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            subprocess.run(
                [cc, "-O0", "-g", "-w", "-pthread", "-I", str(HERE), str(src), "-o", str(out)],
                check=True,
            )
        names.append(src.stem)
    return names


def run_one(exe: Path, size: int, preload: str):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    try:
        p = subprocess.run(
            [str(exe), str(size)], env=env, capture_output=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "stopped", "timeout", "timed out after 20 s"
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace").strip().splitlines()
    first = next((l for l in err if l.strip()), "")[:200]
    if "continued" in out and p.returncode != 0:
        # It reached its end, then the allocator stopped it at exit.
        outcome = "at-exit"
    elif "continued" in out:
        outcome = "continued"
    elif "not reused" in out:
        outcome = "protected"
    else:
        outcome = "stopped"
    return outcome, str(p.returncode), first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--sizes", default="8,4096,262144")
    ap.add_argument("--out", default="target/misuse/results")
    ap.add_argument("--bin", default="target/misuse/bin")
    a = ap.parse_args()
    libs = []
    for spec in a.lib:
        name, _, path = spec.partition("=")
        if path and not Path(path).exists():
            print(f"misuse: {name}: {path} not found, skipped", file=sys.stderr)
            continue
        libs.append((name, str(Path(path).resolve()) if path else ""))
    sizes = [int(s) for s in a.sizes.split(",")]
    names = build(Path(a.bin))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for prog in names:
        for size in sizes:
            for name, path in libs:
                outcome, code, msg = run_one(Path(a.bin) / prog, size, path)
                rows.append([prog, size, name, outcome, code, msg])
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["program", "size", "allocator", "outcome", "exit", "stderr"])
        w.writerows(rows)
    table(rows, names, sizes, [n for n, _ in libs], out / "table.md")


def table(rows, names, sizes, libs, path):
    """A row per program: per allocator, one mark per size (x: stopped or
    protected, e: stopped at exit, .: continued); the totals at the bottom."""
    got = {(r[0], r[1], r[2]): r[3] for r in rows}
    total = {n: 0 for n in libs}
    lines = [
        "| program | " + " | ".join(libs) + " |",
        "|---|" + "---|" * len(libs),
    ]
    for prog in names:
        cells = []
        for lib in libs:
            marks = ""
            for s in sizes:
                outcome = got[(prog, s, lib)]
                caught = outcome != "continued"
                total[lib] += caught
                marks += "e" if outcome == "at-exit" else "x" if caught else "."
            cells.append(marks)
        lines.append(f"| {prog} | " + " | ".join(cells) + " |")
    cases = len(names) * len(sizes)
    lines.append(
        f"| **caught of {cases}** | "
        + " | ".join(f"**{total[l]}**" for l in libs)
        + " |"
    )
    Path(path).write_text("\n".join(lines) + "\n")
    print(f"misuse: {len(names)} programs x {len(sizes)} sizes = {cases} cases")
    for lib in libs:
        print(f"  {lib:<14} caught {total[lib]:>3} of {cases}")


if __name__ == "__main__":
    main()
