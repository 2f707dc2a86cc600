#!/usr/bin/env python3
"""A model, not an allocator: the heap efficiency that headerless
exact-size slabs would reach on `fixed_region`'s efficiency workload at
200 B (issue 13's >= 95 % goal), to decide whether building them is worth
it (session 34).

The workload is the example's: requests of 1..=200 bytes, alignment 8, one
free of a random live block in four operations, until the first failure in
a 2 MiB region; the efficiency is the live requested bytes over the region.

The modelled design: every block is headerless, in a slab of one exact
8-byte size class (8, 16, ..., 200); a slab is S bytes of the region, of
which its region header takes 8 and its blocks the rest (the tail that no
whole block fills is lost); each slab has an 8-byte descriptor out of line
(a table beside the region, so that `free(p)` finds its slab by address);
an emptied slab goes back to the region at once. With `fallback`, a
request whose class has no free slot and for which no new slab fits takes
a slot of the next larger class that has one. The region's own packing is
taken as perfect (every slab the same size), so the model is an upper
bound for this design.

Prints, per slab size and fallback, the mean efficiency over `SEEDS` seeds,
and the bounds that need no model: the 8-byte rounding alone, and the
rounding plus one 8-byte header per block (masu-core's direct blocks).
"""
import math
import random

REGION = 2 << 20
MAX = 200
SEEDS = 5


def efficiency(seed, slab, fallback, hdr=8, desc=8, step=8):
    rng = random.Random(seed)
    free_slabs = REGION // (slab + desc)
    usable = slab - hdr
    top = step * math.ceil(MAX / step)
    avail = {}  # class -> ids of its slabs with a free slot
    slabs = []  # [capacity, used]
    live = []  # (requested, class, slab id)
    requested = 0
    while True:
        if not live or rng.randrange(4) != 0:
            size = 1 + rng.randrange(MAX)
            c = max(step, step * math.ceil(size / step))
            got = None
            if avail.get(c):
                got = (c, next(iter(avail[c])))
            elif free_slabs > 0:
                free_slabs -= 1
                slabs.append([usable // c, 0])
                avail.setdefault(c, set()).add(len(slabs) - 1)
                got = (c, len(slabs) - 1)
            elif fallback:
                for c2 in range(c + step, top + step, step):
                    if avail.get(c2):
                        got = (c2, next(iter(avail[c2])))
                        break
            if got is None:
                return requested / REGION
            c, sid = got
            slabs[sid][1] += 1
            if slabs[sid][1] == slabs[sid][0]:
                avail[c].discard(sid)
            live.append((size, c, sid))
            requested += size
        else:
            i = rng.randrange(len(live))
            live[i], live[-1] = live[-1], live[i]
            size, c, sid = live.pop()
            requested -= size
            slabs[sid][1] -= 1
            if slabs[sid][1] == 0:
                avail[c].discard(sid)
                free_slabs += 1
            else:
                avail[c].add(sid)


def main():
    sizes = range(1, MAX + 1)
    rounded = sum(8 * math.ceil(s / 8) for s in sizes)
    headed = sum(max(16, 8 * math.ceil((s + 8) / 8)) for s in sizes)
    print(f"bound, 8-byte rounding only: {100 * sum(sizes) / rounded:.2f} %")
    print(f"bound, rounding and an 8-byte header per block: {100 * sum(sizes) / headed:.2f} %")
    print(f"slab_bytes fallback mean_efficiency_% (seeds 0..{SEEDS - 1})")
    for slab in (1024, 2048, 4096, 8192):
        for fallback in (False, True):
            effs = [efficiency(s, slab, fallback) for s in range(SEEDS)]
            print(f"{slab} {fallback} {100 * sum(effs) / len(effs):.2f}")


if __name__ == "__main__":
    main()
