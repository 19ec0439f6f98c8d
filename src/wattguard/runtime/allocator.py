"""The C allocator of a long-running process that works in large temporary arrays.

A lazy fleet meters a quarter hour for thousands of meters at once: numpy arrays of a few
hundred kilobytes each, made and freed every slot, between small objects that live for hours
(a terminal's collected items, its lines' timers). glibc serves a block that large with a
mapping of its own and unmaps it when it is freed, until the first such block is freed: from
then on it raises its threshold above that size (the "dynamic mmap threshold"), and the same
arrays come from the heap instead. There the freed space sits between long-lived small blocks
and is seldom returned.

:func:`keep_large_blocks_mapped` fixes the threshold where it starts (128 KiB), which turns the
dynamic threshold off: a large block that the heap's free space cannot hold is a mapping of
its own again, and goes back to the system when freed. At 20,000 simulated meters x 8 h the
fleets' peak RSS fell from 2,539 to 2,369 B a meter, for 2.5 % more fleet CPU (a map and an
unmap per large array); at 100,000 meters the fleets still grow about 1 MB an hour each, which
this does not explain (docs/deploy.md). glibc only; elsewhere it does nothing and says so.

:func:`return_free_memory` is for what remains: blocks below the threshold (Python objects
larger than 512 bytes, OpenSSL's contexts, numpy's small arrays) freed between blocks that
live on. The heap cannot shrink past a block in use, so the pages of those holes stay
resident though nothing is in them; ``malloc_trim(0)`` hands every whole free page of the
heap back to the system (``madvise``), wherever it lies, and the top of the heap too. A
process whose memory is a steady working set with churn around it calls it now and then (the
lazy fleet: every simulated quarter hour).
"""

from __future__ import annotations

import ctypes
import functools
import logging

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_THRESHOLD", "heap_bytes", "keep_large_blocks_mapped", "return_free_memory"]

#: glibc's own starting threshold: blocks this large or larger are mapped.
DEFAULT_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
              "fordblks", "keepcost")  # fmt: skip


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's own C library (its symbols, as linked: no search, no subprocess), when
    it is glibc 2.33+ (mallopt and mallinfo2)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "mallinfo2")):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.mallinfo2.argtypes = ()
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def keep_large_blocks_mapped(threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Serve every block of ``threshold`` bytes or more with a mapping of its own, for the
    rest of the process (see the module docstring). True when set; False (logged) where the C
    library is not glibc (2.33 or later) or refuses the value."""
    if threshold <= 0:
        raise ValueError("the mmap threshold is a positive number of bytes")
    libc = _libc()
    if libc is None:
        log.info("the C library is not glibc 2.33+: the allocator keeps its own threshold")
        return False
    if libc.mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("glibc refused an mmap threshold of %d bytes", threshold)
        return False
    return True


def heap_bytes() -> int | None:
    """Bytes of the C allocator's main heap now, free space in it included (glibc's
    ``mallinfo2().arena``: what freed blocks stay in instead of going back to the system), or
    None without glibc 2.33+."""
    libc = _libc()
    if libc is None:
        return None
    return int(libc.mallinfo2().arena)


def return_free_memory() -> bool:
    """Give the C allocator's whole free pages back to the system, wherever they lie in the
    heap (glibc's ``malloc_trim(0)``; see the module docstring). True when pages were given
    back; False when there were none, or without glibc 2.33+. Its cost grows with the heap's
    free blocks (milliseconds for a few hundred megabytes): call it now and then, not per
    request."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
