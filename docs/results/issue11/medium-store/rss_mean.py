#!/usr/bin/env python3
"""Mean and peak resident set of one run (sampled every 10 ms from
/proc/PID/statm) and the secs= figure it prints:
rss_mean.py [VAR=VALUE ...] -- COMMAND ARGS..."""
import os
import subprocess
import sys
import time

i = sys.argv.index("--")
env = dict(os.environ)
for kv in sys.argv[1:i]:
    k, v = kv.split("=", 1)
    env[k] = v
p = subprocess.Popen(sys.argv[i + 1:], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
samples = []
while p.poll() is None:
    try:
        samples.append(int(open(f"/proc/{p.pid}/statm").read().split()[1]) * 4)
    except (OSError, IndexError, ValueError):
        pass
    time.sleep(0.01)
out = p.stdout.read().decode()
secs = [w for w in out.split() if w.startswith("secs=")]
print(f"mean_mib={sum(samples) / len(samples) / 1024:.2f} max_mib={max(samples) / 1024:.2f} n={len(samples)} {secs[0] if secs else out[-300:]}")
