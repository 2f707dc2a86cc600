#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/{core_ops,checks,global_ops,c_abi}.

The bytes follow the `arbitrary` crate's (1.x) decoding of the targets'
input types: an enum variant is a little-endian u32 `v` choosing variant
`(v * count) >> 32`, integers are little-endian, a bool is a byte's low bit,
and each element of a `Vec` is preceded by a "keep going" byte (1).
Check a seed with `cargo +nightly fuzz fmt <target> <file>`.

Each target's seeds, by name (`corpus/<target>/seed-<name>`):

* core_ops: mixed sizes with realloc, remote frees and collects; every
  alignment; large and huge blocks with in-place realloc; churn of tiny
  blocks on small segments; eager purging.
* checks: a clean sequence, then one seed per misuse kind.
* global_ops: mixed sizes with realloc, shrink and remote-free batches;
  every alignment from 1 B to 8 MiB (large spans, huge blocks); huge blocks
  grown, shrunk and freed remotely; batches of 8 tiny blocks freed remotely
  while the owner reallocates, before a collect; alloc_zeroed over memory
  just dirtied and freed, in every size band.
* c_abi: edge sizes (0, `usize::MAX`, `isize::MAX` and around, 2^47,
  32 GiB, calloc overflow); every kind of alignment argument for
  posix_memalign, aligned_alloc, memalign, valloc and pvalloc; realloc
  across classes, in place, to 0, to impossible sizes, of NULL, and
  reallocarray with and without overflow; calloc over dirty memory in every
  size band; memalign with alignments up to 16 for requests of up to 8 bytes
  (around the memalign alignment bug, see fuzz/README.md, whose minimised
  crash input is corpus/c_abi/regress-memalign-16-small; this script does
  not write `regress-*` files).
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

# ---------------------------------------------------------------------------
# global_ops: `Input { ops: Vec<Op> }` (the rest of the input, unterminated).


def g_tiny(n):
    return variant(0, 5) + u8(n)


def g_small(n):
    return variant(1, 5) + u16(n)


def g_medium(n):
    return variant(2, 5) + u16(n - 1)  # `Medium(n)` is n + 1 bytes


def g_large(n):
    return variant(3, 5) + u32(n)


def g_huge(n):
    return variant(4, 5) + u32(n)


def g_alloc(size, align_shift=3, zeroed=False):
    return variant(0, 6) + size + u8(align_shift) + b(zeroed)


def g_realloc(block, size):
    return variant(1, 6) + u16(block) + size


def g_shrink(block, per_mille):
    return variant(2, 6) + u16(block) + u16(per_mille)


def g_free(block):
    return variant(3, 6) + u16(block)


def g_remote_free(block, count):
    """`count` blocks (1..=8) from the pick on."""
    return variant(4, 6) + u16(block) + u8(count - 1)


def g_collect(force):
    return variant(5, 6) + b(force)


G_MIXED = [
    g_alloc(g_tiny(24)),
    g_alloc(g_tiny(100), zeroed=True),
    g_alloc(g_small(3000)),
    g_realloc(0, g_small(4000)),
    g_shrink(2, 300),
    g_alloc(g_medium(20000), zeroed=True),
    g_remote_free(1, 2),
    g_alloc(g_tiny(200)),
    g_free(0),
    g_alloc(g_large(300000)),
    g_realloc(1, g_large(900000)),
    g_alloc(g_tiny(8)),
    g_collect(False),
    g_realloc(1, g_tiny(16)),
    g_remote_free(0, 3),
    g_alloc(g_small(64), 3, True),
    g_collect(True),
]
G_ALIGNED = [g_alloc(g_tiny(1 + 7 * i), i) for i in range(24)] + [
    g_alloc(g_medium(70000 % 65536), 17, True),
    g_alloc(g_large(300000), 21),
    g_alloc(g_huge(5 << 20), 23, True),
    g_realloc(3, g_medium(9000)),
    g_realloc(20, g_large(100000)),
    g_remote_free(10, 8),
    g_free(1),
    g_free(4),
    g_collect(False),
]
G_HUGE = [
    g_alloc(g_huge(5 << 20)),
    g_alloc(g_huge(9 << 20), 3, True),
    g_alloc(g_large(2 << 20)),
    g_realloc(2, g_huge(7 << 20)),
    g_shrink(2, 400),
    g_realloc(0, g_large(600 << 10)),
    g_remote_free(1, 1),
    g_alloc(g_huge(9 << 20), 3, True),
    g_collect(False),
    g_remote_free(0, 2),
    g_alloc(g_large(1 << 20), 20),
    g_collect(True),
]
G_REMOTE = [g_alloc(g_tiny(16 + 8 * (i % 6))) for i in range(48)] + [
    g_remote_free(i * 5, 8) for i in range(3)
] + [g_realloc(i * 3, g_tiny(40 + i)) for i in range(8)] + [
    g_remote_free(0, 8), g_alloc(g_tiny(24)), g_free(3), g_collect(False),
    g_remote_free(2, 8),
]
G_ZEROED = []
for size in (g_tiny(48), g_small(3000), g_medium(40000), g_large(500000), g_huge(6 << 20)):
    G_ZEROED += [g_alloc(size), g_free(0), g_alloc(size, 3, True), g_remote_free(0, 1),
                 g_collect(False), g_alloc(size, 3, True), g_free(0)]

GLOBAL_OPS = {
    "mixed": ops(G_MIXED, False),
    "aligned": ops(G_ALIGNED, False),
    "huge-remote": ops(G_HUGE, False),
    "remote-batches": ops(G_REMOTE, False),
    "zeroed-reuse": ops(G_ZEROED, False),
}

# ---------------------------------------------------------------------------
# c_abi: `Input { ops: Vec<Op> }` (the rest of the input, unterminated).


def s_zero():
    return variant(0, 8)


def s_tiny(n):
    return variant(1, 8) + u8(n)


def s_small(n):
    return variant(2, 8) + u16(n)


def s_medium(n):
    return variant(3, 8) + u32(n)


def s_large(n):
    return variant(4, 8) + u32(n)


def s_pow2(shift, delta=0):
    return variant(5, 8) + u8(shift) + struct.pack("<b", delta)


def s_near_max(n):
    return variant(6, 8) + u16(n)


def s_near_isize_max(n):
    return variant(7, 8) + struct.pack("<h", n)


def n_small(n):
    return variant(0, 4) + u8(n)


def n_pow2(shift, delta=0):
    return variant(1, 4) + u8(shift) + struct.pack("<b", delta)


def n_near_max(n):
    return variant(2, 4) + u16(n)


def n_raw(n):
    return variant(3, 4) + u64(n)


def a_pow2(shift):
    return variant(0, 4) + u8(shift)


def a_small(n):
    return variant(1, 4) + u8(n)


def a_near_pow2(shift, delta):
    return variant(2, 4) + u8(shift) + struct.pack("<b", delta)


def a_near_max(n):
    return variant(3, 4) + u8(n)


C_OPS = 14


def c_malloc(size):
    return variant(0, C_OPS) + size


def c_calloc(n, size):
    return variant(1, C_OPS) + n + size


def c_calloc_dirty(n, size):
    return variant(2, C_OPS) + n + size


def c_realloc(block, size):
    return variant(3, C_OPS) + u16(block) + size


def c_realloc_null(size):
    return variant(4, C_OPS) + size


def c_reallocarray(block, null, n, size):
    return variant(5, C_OPS) + u16(block) + b(null) + n + size


def c_posix_memalign(align, size):
    return variant(6, C_OPS) + align + size


def c_aligned_alloc(align, size):
    return variant(7, C_OPS) + align + size


def c_memalign(align, size):
    return variant(8, C_OPS) + align + size


def c_valloc(size):
    return variant(9, C_OPS) + size


def c_pvalloc(size):
    return variant(10, C_OPS) + size


def c_free(block):
    return variant(11, C_OPS) + u16(block)


def c_nulls():
    return variant(12, C_OPS)


def c_trim():
    return variant(13, C_OPS)


C_EDGE_SIZES = [
    c_malloc(s_zero()), c_malloc(s_zero()), c_malloc(s_tiny(1)), c_malloc(s_tiny(8)),
    c_malloc(s_tiny(9)), c_malloc(s_near_max(0)), c_malloc(s_near_max(15)),
    c_malloc(s_near_isize_max(1)), c_malloc(s_near_isize_max(0)),
    c_malloc(s_near_isize_max(-15)), c_malloc(s_near_isize_max(-16)),
    c_malloc(s_pow2(47)), c_malloc(s_pow2(47, -1)), c_malloc(s_pow2(35)),
    c_malloc(s_pow2(28)), c_malloc(s_large(5 << 20)), c_malloc(s_medium(65536)),
    c_malloc(s_medium(65537)),
    c_calloc(n_near_max(0), s_tiny(2)), c_calloc(n_pow2(32), s_pow2(32)),
    c_calloc(n_pow2(63), s_tiny(2)), c_calloc(n_small(0), s_tiny(16)),
    c_calloc(n_small(7), s_zero()), c_calloc(n_pow2(17), s_pow2(18)),
    c_calloc(n_small(3), s_small(1000)), c_calloc(n_raw(1 << 31), s_tiny(16)),
    c_nulls(), c_free(0), c_free(3), c_trim(),
]
C_ALIGNMENTS = []
for a in (a_small(0), a_small(1), a_small(2), a_small(3), a_small(4), a_small(8),
          a_small(12), a_small(16), a_small(17), a_small(24), a_small(48), a_pow2(6),
          a_pow2(12), a_pow2(16), a_pow2(17), a_pow2(21), a_pow2(23), a_pow2(30),
          a_pow2(35), a_pow2(47), a_pow2(62), a_pow2(63), a_near_pow2(16, 1),
          a_near_pow2(63, 1), a_near_max(0)):
    for op in (c_posix_memalign, c_aligned_alloc, c_memalign):
        C_ALIGNMENTS.append(op(a, s_tiny(100)))
C_ALIGNMENTS += [
    c_posix_memalign(a_pow2(16), s_zero()), c_aligned_alloc(a_pow2(17), s_tiny(1)),
    c_posix_memalign(a_pow2(12), s_near_isize_max(0)),
    c_aligned_alloc(a_pow2(46), s_pow2(46, 1)),
    c_valloc(s_zero()), c_valloc(s_small(5000 % 4097)), c_valloc(s_near_max(0)),
    c_pvalloc(s_zero()), c_pvalloc(s_tiny(1)), c_pvalloc(s_small(4097 % 4097)),
    c_pvalloc(s_near_max(0)), c_pvalloc(s_near_max(4095)), c_pvalloc(s_pow2(47)),
    c_trim(),
]
C_REALLOC = [
    c_malloc(s_tiny(3)), c_realloc(0, s_tiny(8)), c_realloc(0, s_tiny(40)),
    c_malloc(s_tiny(100)), c_realloc(1, s_small(3000)), c_realloc(1, s_medium(200000)),
    c_realloc(1, s_large(6 << 20)), c_realloc(1, s_large(5 << 20)), c_realloc(1, s_tiny(24)),
    c_realloc(0, s_near_max(0)), c_realloc(0, s_pow2(47)), c_realloc(0, s_pow2(34)),
    c_realloc(0, s_near_isize_max(-15)),
    c_realloc_null(s_zero()), c_realloc_null(s_tiny(50)),
    c_reallocarray(0, False, n_near_max(0), s_tiny(3)),
    c_reallocarray(1, False, n_small(10), s_small(100)),
    c_reallocarray(0, True, n_small(4), s_tiny(4)),
    c_reallocarray(0, True, n_pow2(33), s_pow2(31)),
    c_realloc(2, s_zero()), c_reallocarray(0, False, n_small(5), s_zero()),
    c_realloc(0, s_tiny(1)),
]
C_CALLOC_DIRTY = [c_calloc_dirty(n_small(1), size) for size in (
    s_tiny(8), s_tiny(24), s_tiny(200), s_small(3000), s_medium(40000),
    s_medium(200000), s_large(3 << 20), s_large(9 << 20))] + [
    c_calloc_dirty(n_small(5), s_small(800)), c_calloc_dirty(n_pow2(10), s_small(1024)),
    c_malloc(s_large(9 << 20)), c_free(0), c_calloc(n_small(1), s_large(9 << 20)),
]
C_MEMALIGN_SMALL = [c_memalign(a, s_tiny(n)) for n in (1, 4, 8) for a in (
    a_small(16), a_small(16), a_small(16), a_small(12), a_small(9), a_small(0))]

C_ABI = {
    "edge-sizes": ops(C_EDGE_SIZES, False),
    "alignments": ops(C_ALIGNMENTS, False),
    "realloc": ops(C_REALLOC, False),
    "calloc-dirty": ops(C_CALLOC_DIRTY, False),
    "memalign-small": ops(C_MEMALIGN_SMALL, False),
}

for target, seeds in (("core_ops", CORE_OPS), ("checks", CHECKS),
                      ("global_ops", GLOBAL_OPS), ("c_abi", C_ABI)):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)
