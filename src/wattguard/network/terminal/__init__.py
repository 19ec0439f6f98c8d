"""The collection terminal (concentrator), by concern: what it reads (:mod:`.tasks`), its line
to each meter (:mod:`.lines`), what it answers the station (:mod:`.proxy`), what it keeps until
the station has it (:mod:`.outbox`), and the :class:`Terminal` that puts them together
(:mod:`.terminal`, whose docstring is the theory of operation)."""

from wattguard.network.terminal.outbox import Outbox
from wattguard.network.terminal.proxy import ProxyRelay
from wattguard.network.terminal.tasks import Collected, CollectionTask, decode_item, encode_item
from wattguard.network.terminal.terminal import (
    Offline,
    Online,
    RequestWrapper,
    Terminal,
    TerminalEvent,
)

__all__ = [
    "Collected",
    "CollectionTask",
    "Offline",
    "Online",
    "Outbox",
    "ProxyRelay",
    "RequestWrapper",
    "Terminal",
    "TerminalEvent",
    "decode_item",
    "encode_item",
]
