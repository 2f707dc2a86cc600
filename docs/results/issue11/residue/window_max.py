"""dist's live blocks above 2 KiB by size class: the sum over classes of each
class's most live bytes (what segregated size classes keep resident), against
the mean over windows of W operations of that sum within each window (what a
policy that gave back, at the end of each window, what the window did not
use would keep), and the most live bytes above 2 KiB at once (about what
an allocator that coalesces freed blocks across sizes needs). Sizes and operations as masu-work `dist` (400 slots, each
operation replaces a random slot: 80 % 16-256 B, 15 % 257-2048 B, 5 %
2049-32768 B); classes as masu's above 2 KiB (8 per doubling). Python's own
random numbers, 2,000,000 operations (dist full runs 20 M in about 1 s, so
1,000,000 operations are about 50 ms).

    python3 window_max.py
"""
import random

random.seed(1)


def size():
    r = random.randrange(100)
    if r < 80:
        return random.randint(16, 256)
    if r < 95:
        return random.randint(257, 2048)
    return random.randint(2049, 32768)


def cls(s):
    if s <= 2048:
        return None
    b = s - 1
    l = b.bit_length() - 1
    return ((b >> (l - 3)) & 7, l)


def csize(s):
    b = s - 1
    l = b.bit_length() - 1
    step = 1 << (l - 3)
    return ((b // step) + 1) * step


N = 2_000_000
slots = [size() for _ in range(400)]
live, csz, hwm = {}, {}, {}
for s in slots:
    c = cls(s)
    if c:
        live[c] = live.get(c, 0) + 1
        csz[c] = csize(s)
windows = [1_000, 10_000, 100_000, 1_000_000]
acc = {w: 0.0 for w in windows}
cnt = {w: 0 for w in windows}
cur = {w: {} for w in windows}
total_live, tl_n, most_total = 0, 0, 0
for i in range(N):
    j = random.randrange(400)
    c = cls(slots[j])
    if c:
        live[c] -= 1
    s = size()
    slots[j] = s
    c = cls(s)
    if c:
        live[c] = live.get(c, 0) + 1
        csz[c] = csize(s)
        hwm[c] = max(hwm.get(c, 0), live[c])
        for w in windows:
            cur[w][c] = max(cur[w].get(c, 0), live[c])
    for w in windows:
        if (i + 1) % w == 0:
            acc[w] += sum(v * csz.get(k, 0) for k, v in cur[w].items())
            cnt[w] += 1
            cur[w] = {k: v for k, v in live.items() if v > 0}
    if i % 1000 == 0:
        now = sum(v * csz.get(k, 0) for k, v in live.items())
        total_live += now
        most_total = max(most_total, now)
        tl_n += 1
print(f"mean live bytes above 2 KiB: {total_live / tl_n / 1024:.0f} KiB")
print(f"most live bytes above 2 KiB at once (sampled every 1000): {most_total / 1024:.0f} KiB")
print(f"sum over classes of each class's most live bytes: {sum(v * csz[k] for k, v in hwm.items()) / 1024:.0f} KiB")
for w in windows:
    print(f"window of {w} operations: mean of the per-window sum {acc[w] / cnt[w] / 1024:.0f} KiB")
