#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/{core_ops,checks}.

The bytes follow the `arbitrary` crate's (1.x) decoding of the targets'
input types: an enum variant is a little-endian u32 `v` choosing variant
`(v * count) >> 32`, integers are little-endian, a bool is a byte's low bit,
and each element of a `Vec` is preceded by a "keep going" byte (1).
Check a seed with `cargo +nightly fuzz fmt <target> <file>`.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def variant(i, n):
    return struct.pack("<I", (i * (1 << 32) + n - 1) // n)


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def b(v):
    return u8(1 if v else 0)


FIXED, SMALL, EAGER = (variant(i, 3) for i in range(3))


def tiny(n):
    return variant(0, 4) + u8(n)


def small(n):
    return variant(1, 4) + u16(n)


def medium(n):
    return variant(2, 4) + u16(n)


def large(n):
    return variant(3, 4) + u32(n)


def alloc(size, align_shift=3, zeroed=False):
    return variant(0, 6) + size + u8(align_shift) + b(zeroed)


def realloc(block, size):
    return variant(1, 6) + u16(block) + size


def shrink(block, per_mille):
    return variant(2, 6) + u16(block) + u16(per_mille)


def free(block):
    return variant(3, 6) + u16(block)


def remote_free(block):
    return variant(4, 6) + u16(block)


def collect(force):
    return variant(5, 6) + b(force)


def ops(seq, terminated):
    out = b"".join(b"\x01" + op for op in seq)
    return out + (b"\x00" if terminated else b"")


def double_free(block, first_remote, second_remote):
    return variant(0, 6) + u16(block) + b(first_remote) + b(second_remote)


def outside(offset):
    return variant(1, 6) + u8(offset)


def interior(block, offset):
    return variant(2, 6) + u16(block) + u32(offset)


def wrong_layout(block, in_realloc):
    return variant(3, 6) + u16(block) + b(in_realloc)


def scribble_local(block, value):
    return variant(4, 6) + u16(block) + u64(value)


def scribble_remote(block, value):
    return variant(5, 6) + u16(block) + u64(value)


MIXED = [
    alloc(tiny(24)),
    alloc(tiny(100), zeroed=True),
    alloc(small(3000)),
    realloc(0, small(4000)),
    shrink(2, 300),
    alloc(medium(20000), zeroed=True),
    remote_free(1),
    alloc(tiny(200)),
    free(0),
    collect(False),
    alloc(tiny(8)),
    realloc(1, tiny(16)),
    remote_free(0),
    collect(True),
]
ALIGNED = [
    alloc(tiny(1), 0),
    alloc(tiny(33), 6),
    alloc(small(100), 12),
    alloc(small(5000 % 4097), 13),
    alloc(medium(70), 16, True),
    alloc(large(300000), 18),
    alloc(large(4096), 20),
    realloc(3, medium(9000)),
    free(1),
    free(4),
    collect(False),
]
LARGE = [
    alloc(large(200 * 1024)),
    alloc(large(1 << 20), 3, True),
    alloc(medium(40000)),
    realloc(2, medium(60000)),
    shrink(2, 400),
    realloc(0, large(600 * 1024)),
    remote_free(1),
    alloc(medium(50000), 3, True),
    collect(False),
    free(0),
]
TINY_CHURN = [alloc(tiny(16 + 8 * (i % 5))) for i in range(40)] + [
    free(i * 7) for i in range(20)
] + [remote_free(i * 3) for i in range(10)] + [alloc(tiny(24), 3, True) for _ in range(10)]
EAGER_CYCLE = [alloc(small(2000)), free(0), alloc(small(2000), 3, True), free(0),
               alloc(medium(30000)), free(0), collect(False)] * 3

CORE_OPS = {
    "mixed": FIXED + ops(MIXED, False),
    "aligned": FIXED + ops(ALIGNED, False),
    "large-and-huge": FIXED + ops(LARGE, False),
    "small-region-churn": SMALL + ops(TINY_CHURN, False),
    "eager-purge-cycle": EAGER + ops(EAGER_CYCLE, False),
}

PREFIX = [alloc(tiny(64)), alloc(tiny(64)), alloc(tiny(64)), alloc(small(3000)),
          alloc(medium(40000)), alloc(large(300000))]

CHECKS = {
    "clean": FIXED + ops(MIXED, True) + b(False),
    "double-free-local": FIXED + ops(PREFIX, True) + b(True) + double_free(1, False, False),
    "double-free-remote": FIXED + ops(PREFIX, True) + b(True) + double_free(0, True, True),
    "double-free-large": FIXED + ops(PREFIX, True) + b(True) + double_free(4, False, False),
    "outside": SMALL + ops(PREFIX[:2], True) + b(True) + outside(9),
    "interior": FIXED + ops(PREFIX, True) + b(True) + interior(2, 40),
    "wrong-layout": FIXED + ops(PREFIX, True) + b(True) + wrong_layout(0, False),
    "wrong-layout-realloc": FIXED + ops(PREFIX, True) + b(True) + wrong_layout(5, True),
    "scribble-local": FIXED + ops(PREFIX, True) + b(True) + scribble_local(1, 0x1234_5678),
    "scribble-remote": FIXED + ops(PREFIX, True) + b(True) + scribble_remote(2, 0xdead_beef),
}

for target, seeds in (("core_ops", CORE_OPS), ("checks", CHECKS)):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)
