"""The meter's interface objects as the DL/T 698.45 server sees them: attributes to read and
write, methods to call, record attributes to select from.

Each module registers what it exposes: a getter (and optionally a setter) per attribute, a
handler per method, a record source per record attribute. The model answers in DARs, never
in exceptions: an unknown object is OBJECT_UNDEFINED, a read-only attribute
READ_WRITE_DENIED, a handler that refuses raises :class:`~wattguard.errors.ProtocolError` with
the DAR to answer with. Element indexes (OAD element > 0) select one element of an array or
structure attribute, 1-based, as clause 5.3 of the standard defines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wattguard.errors import ProtocolError
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR, AResultRecord
from wattguard.protocol.apdu.get import GetRecord

__all__ = ["Getter", "Method", "ObjectModel", "RecordSource", "Setter", "refuse"]

Getter = Callable[[], Data]
Setter = Callable[[Data], None]
Method = Callable[[Data], Data | None]
RecordSource = Callable[[GetRecord], AResultRecord]


def refuse(dar: DAR, message: str) -> ProtocolError:
    """The error a setter or method raises to answer ``dar``."""
    return ProtocolError(message, dar=dar)


def _dar(error: ProtocolError) -> DAR:
    try:
        return DAR(error.dar)
    except ValueError:
        return DAR.OTHER


@dataclass(frozen=True, slots=True)
class _Attribute:
    getter: Getter | None
    setter: Setter | None


class ObjectModel:
    """Attributes, methods and record sources by OI."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[int, int], _Attribute] = {}
        self._methods: dict[tuple[int, int], Method] = {}
        self._records: dict[tuple[int, int], RecordSource] = {}

    def add_attribute(
        self, oi: int, attribute: int, getter: Getter | None, setter: Setter | None = None
    ) -> None:
        self._attributes[(oi, attribute)] = _Attribute(getter, setter)

    def add_method(self, oi: int, method: int, handler: Method) -> None:
        self._methods[(oi, method)] = handler

    def add_records(self, oi: int, attribute: int, source: RecordSource) -> None:
        self._records[(oi, attribute)] = source

    def attributes(self) -> list[tuple[tuple[int, int], Getter]]:
        """The readable attributes and their getters."""
        return [(key, a.getter) for key, a in self._attributes.items() if a.getter is not None]

    def knows(self, oi: int) -> bool:
        return any(key[0] == oi for key in (*self._attributes, *self._methods, *self._records))

    def get(self, oad: OAD) -> Data | DAR:
        entry = self._attributes.get((oad.oi, oad.attribute))
        if entry is None:
            return DAR.OBJECT_UNDEFINED if not self.knows(oad.oi) else DAR.OBJECT_NOT_EXIST
        if entry.getter is None:
            return DAR.READ_WRITE_DENIED
        try:
            value = entry.getter()
        except ProtocolError as exc:
            return _dar(exc)
        if oad.element == 0:
            return value
        if value.type not in (DataType.ARRAY, DataType.STRUCTURE) or oad.element > len(value.value):
            return DAR.OBJECT_NOT_EXIST
        element: Data = value.value[oad.element - 1]
        return element

    def set(self, oad: OAD, value: Data) -> DAR:
        entry = self._attributes.get((oad.oi, oad.attribute))
        if entry is None:
            return DAR.OBJECT_UNDEFINED if not self.knows(oad.oi) else DAR.OBJECT_NOT_EXIST
        if entry.setter is None or oad.element:
            return DAR.READ_WRITE_DENIED
        try:
            entry.setter(value)
        except ProtocolError as exc:
            return _dar(exc)
        return DAR.SUCCESS

    def action(self, omd: OMD, value: Data) -> tuple[DAR, Data | None]:
        handler = self._methods.get((omd.oi, omd.method))
        if handler is None:
            undefined = DAR.OBJECT_UNDEFINED if not self.knows(omd.oi) else DAR.OBJECT_NOT_EXIST
            return undefined, None
        try:
            return DAR.SUCCESS, handler(value)
        except ProtocolError as exc:
            return _dar(exc), None

    def get_record(self, request: GetRecord) -> AResultRecord:
        source = self._records.get((request.oad.oi, request.oad.attribute))
        if source is None:
            dar = DAR.OBJECT_UNDEFINED if not self.knows(request.oad.oi) else DAR.OBJECT_NOT_EXIST
            return AResultRecord(request.oad, request.columns, dar)
        try:
            return source(request)
        except ProtocolError as exc:
            dar = _dar(exc)
            return AResultRecord(request.oad, request.columns, dar)
