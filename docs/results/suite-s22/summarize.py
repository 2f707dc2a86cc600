"""Medians of the device runs' per-run lines (`suite.py`'s output):
python3 summarize.py LOG... prints one table row per test, time and peak
RSS per allocator, and masu over the best other one."""
import re, statistics, sys
from collections import defaultdict

runs = defaultdict(list)
order = []
for path in sys.argv[1:]:
    for line in open(path):
        m = re.match(r"\s*(\S+)\s+(\S+) rep \d+: time ([0-9.]+)\s+rss (\d+) KiB", line)
        if m:
            test, alloc, t, rss = m.group(1), m.group(2), float(m.group(3)), int(m.group(4))
            runs[test, alloc].append((t, rss))
            if alloc not in order:
                order.append(alloc)
tests = []
for test, _ in runs:
    if test not in tests:
        tests.append(test)
print("| test | " + " | ".join(order) + " | masu / best other (time) | masu / lowest other (RSS) |")
print("|---|" + "---:|" * (len(order) + 2))
for test in tests:
    cells, times, rsss = [], {}, {}
    for a in order:
        r = runs.get((test, a))
        if not r:
            cells.append("")
            continue
        times[a] = statistics.median(t for t, _ in r)
        rsss[a] = statistics.median(x for _, x in r) / 1024
        cells.append(f"{times[a]:.3f} s, {rsss[a]:.0f} MiB (n={len(r)})")
    others = [a for a in times if not a.startswith("masu")]
    ratio_t = f"{times['masu'] / min(times[a] for a in others):.2f}" if "masu" in times and others else ""
    ratio_r = f"{rsss['masu'] / min(rsss[a] for a in others):.2f}" if "masu" in rsss and others else ""
    print(f"| {test} | " + " | ".join(cells) + f" | {ratio_t} | {ratio_r} |")
