#!/usr/bin/env python3
"""Lists the lock-prefixed (atomic read-modify-write) instructions that a
callgrind run executed, per object and function, with their execution counts.
Needs a profile made with --dump-instr=yes --compress-pos=no --compress-strings=no."""
import re, subprocess, sys
from collections import defaultdict

prof = sys.argv[1]
execd = defaultdict(int)   # (object, function, address) -> count
ob = fn = None
for line in open(prof):
    if line.startswith('ob='):
        ob = line[3:].strip()
    elif line.startswith('fn='):
        fn = line[3:].strip()
    elif line.startswith(('cob=', 'cfi=', 'cfn=', 'calls=')):
        continue
    else:
        # "addr line Ir" cost lines; the line after "calls=" is the call's
        # inclusive cost, which also starts with the call's address: it is
        # counted once more here, which can only over-report.
        m = re.match(r'^(0x[0-9a-f]+) (\S+) (\d+)', line)
        if m and ob:
            execd[(ob, fn, int(m.group(1), 16))] += int(m.group(3))

objects = {k[0] for k in execd}
locked = {}
for obj in objects:
    try:
        dis = subprocess.run(['objdump', '-d', '--no-show-raw-insn', obj], capture_output=True, text=True).stdout
    except Exception:
        continue
    for l in dis.splitlines():
        m = re.match(r'^\s*([0-9a-f]+):\s+(.*)$', l)
        if m and re.search(r'\block\b|\bxchg\b', m.group(2)):
            locked[(obj, int(m.group(1), 16))] = m.group(2).strip()
total = 0
for (obj, fn, addr), n in sorted(execd.items(), key=lambda kv: -kv[1]):
    if (obj, addr) in locked:
        print(f"{n:>10}  {obj.split('/')[-1]}  {fn}  {addr:#x}  {locked[(obj, addr)]}")
        total += n
print(f"atomic read-modify-write instructions executed: {total}")
