"""A process that works in large temporary arrays keeps each of them in a mapping of its own,
so that freeing one gives its memory back instead of leaving a hole in the heap; the holes that
small blocks freed between live ones leave are given back when the process asks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wattguard.runtime.allocator import heap_bytes, keep_large_blocks_mapped

pytestmark = pytest.mark.skipif(
    heap_bytes() is None, reason="the C library is not glibc 2.33+ (no mallopt/mallinfo2)"
)

# Frees a 1 MiB array (a mapping: glibc then raises its threshold to 1 MiB, unless it was
# fixed), then holds twenty arrays of 600 KB at once and prints how much the heap grew (MB).
_PROGRAM = """
import sys
import numpy as np
from wattguard.runtime.allocator import keep_large_blocks_mapped, heap_bytes
if sys.argv[1] == "fixed":
    assert keep_large_blocks_mapped()
before = heap_bytes()
big = np.ones(131_072)
del big
held = [np.ones(75_000) for _ in range(20)]
print((heap_bytes() - before) / 1e6)
"""


def _heap_growth(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def test_with_the_threshold_fixed_large_arrays_stay_out_of_the_heap() -> None:
    assert _heap_growth("fixed") < 2.0  # at most one of the 12 MB, from the heap's free top


def test_without_it_glibc_serves_them_from_the_heap() -> None:
    """The behaviour the setting exists for: this is what fails if glibc changes it."""
    assert _heap_growth("default") > 10.0


def test_a_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        keep_large_blocks_mapped(0)


# Fills the heap with 64 MB of 4 KB blocks (each a malloc of its own: larger than Python's
# small-object limit), frees all but one in 64 (the one left holds the heap up to its top),
# then prints the process's resident MB before and after asking for the free pages back.
_HOLES = """
import sys
from wattguard.runtime.allocator import return_free_memory
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6
blocks = [bytearray(4096) for _ in range(16_000)]
kept = blocks[::64]
del blocks
before = resident()
given = return_free_memory() if sys.argv[1] == "trim" else False
print(before, resident(), given)
"""


def _holes(mode: str) -> tuple[float, float, str]:
    done = subprocess.run(
        [sys.executable, "-c", _HOLES, mode], capture_output=True, text=True, check=True
    )
    before, after, given = done.stdout.split()
    return float(before), float(after), given


def test_the_free_pages_between_live_blocks_go_back_when_asked() -> None:
    before, after, given = _holes("trim")
    assert given == "True"
    assert before - after > 40.0, (before, after)  # of the 63 MB freed between the kept


def test_without_asking_they_stay_resident() -> None:
    """What the call exists for: freed between live blocks, the pages stay in the process."""
    before, after, _ = _holes("keep")
    assert before - after < 5.0, (before, after)
