"""The soft ESAM's state kept by the meter: sealed in the meter's non-volatile store, so its
counters and wallet survive a restart.

Theory of operation. A hardware ESAM keeps its counters and wallet in its own non-volatile
memory. The soft ESAM (:class:`~wattguard.esam.chip.Esam`) keeps them in RAM; were a restart to
bring it back as provisioned, its command counter would start again from zero and every
command the station sent before the restart could be replayed. :class:`StoredEsam` stands
between the management module's :class:`~wattguard.esam.client.EsamClient` and the chip: after
every command it asks the chip for its state if it changed
(:meth:`~wattguard.esam.chip.Esam.sealed_if_changed`: SM4-GCM under the chip's device key)
and writes it to the store under ``esam`` *before* the answer goes back, so no accepted command
is answered while its counter is only in RAM. :meth:`StoredEsam.open` brings the chip back from
the store at power-up, and provisions a new chip only when the store holds none.

A sealed state that does not open (altered, or sealed by another chip's device key) raises
:class:`~wattguard.errors.IntegrityError`: the meter does not start its ESAM afresh (that would
reopen the replay window); the host must have it provisioned again. The device key stands for
the key a secure element keeps in its own fused memory: the caller holds it outside the store
(docs/security.md, "The soft ESAM's state across a restart").
"""

from __future__ import annotations

import os
from collections.abc import Callable

from wattguard.esam.chip import Esam
from wattguard.meter.management.storage import Store

__all__ = ["ESAM_KEY", "StoredEsam"]

#: The store key of the sealed ESAM state.
ESAM_KEY = "esam"


class StoredEsam:
    """A soft ESAM whose sealed state the meter keeps in ``store`` (a
    :class:`~wattguard.esam.client.Transmitter`: one frame in, one frame out)."""

    def __init__(self, esam: Esam, store: Store) -> None:
        self.esam = esam
        self.store = store
        self._save()

    @classmethod
    def open(
        cls,
        store: Store,
        device_key: bytes,
        provision: Callable[[], Esam],
        *,
        random: Callable[[int], bytes] = os.urandom,
    ) -> StoredEsam:
        """The chip whose state ``store`` holds (sealed under ``device_key``), or, on a store
        that holds none, the one ``provision`` makes (its state is written at once). Raises
        IntegrityError when the stored state does not open."""
        blob = store.get(ESAM_KEY)
        if blob is None:
            return cls(provision(), store)
        return cls(Esam.from_bytes(blob, device_key, random=random), store)

    def transmit(self, frame: bytes) -> bytes:
        """One command to the chip; its state is in the store before the answer returns."""
        answer = self.esam.transmit(frame)
        self._save()
        return answer

    def _save(self) -> None:
        blob = self.esam.sealed_if_changed()
        if blob is not None:
            self.store.put(ESAM_KEY, blob)
