# The compiled decoder (_accel.c); configured by _accelerate.py.
from typing import Any

LAST_OP: int

def decode_frame(data: bytes, /) -> Any: ...
def decode_apdu(data: bytes, /) -> Any: ...
def decode_data(data: bytes, pos: int, depth: int, /) -> tuple[Any, int] | None: ...
def crc16(data: bytes | bytearray | memoryview, /) -> int: ...
def open_answer(
    cmac: Any,
    encryptor: Any,
    decryptor: Any,
    sm3_empty: Any,
    label: int,
    direction: int,
    binding: bytes,
    protection: int,
    data: bytes,
    tag: bytes,
    /,
) -> bytes | None: ...
def configure(
    *,
    controls: tuple[Any, ...],
    addresses: dict[bytes, Any],
    frame_type: type,
    frame_setters: tuple[Any, ...],
    data_type: type,
    oad_type: type,
    data_tags: tuple[Any, ...],
    data_readers: tuple[Any, ...],
    reader_type: type,
    single: tuple[Any, ...],
    choices: tuple[Any, ...],
    max_depth: int,
    fragment_type: type,
    fragment_setters: tuple[Any, ...],
    fragment_kinds: tuple[Any, ...],
) -> None: ...
