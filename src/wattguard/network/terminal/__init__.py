"""The collection terminal (concentrator), by concern: what it reads (:mod:`.tasks`), its line
to each meter (:mod:`.lines`), what it answers the station (:mod:`.proxy`), the collection
tables the station configures (6012/6014, :mod:`.scheme`), what it keeps until the station
has it (:mod:`.outbox`), and the :class:`Terminal` that puts them together (:mod:`.terminal`,
whose docstring is the theory of operation)."""

from wattguard.network.terminal.outbox import Outbox
from wattguard.network.terminal.proxy import ProxyRelay
from wattguard.network.terminal.scheme import NormalScheme, SchemeTable, TaskConfig
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
    "NormalScheme",
    "Offline",
    "Online",
    "Outbox",
    "ProxyRelay",
    "RequestWrapper",
    "SchemeTable",
    "TaskConfig",
    "Terminal",
    "TerminalEvent",
    "decode_item",
    "encode_item",
]
