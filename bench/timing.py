"""What every benchmark here shares: operations per CPU second, as ``openssl speed`` counts."""

from __future__ import annotations

import time
from collections.abc import Callable


def measure(operation: Callable[[], object], seconds: float) -> float:
    """Operations per CPU second over at least ``seconds``, after one warm-up call."""
    operation()
    count, batch = 0, 1
    start = time.process_time()
    while True:
        for _ in range(batch):
            operation()
        count += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return count / elapsed
        batch = min(batch * 2, 8192)
