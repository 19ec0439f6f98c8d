"""Per-object security modes: what protection a request needs before the meter serves it
(object F101, "security mode parameters").

Theory of operation. Every GET, SET, ACTION and PROXY reaches the management module either
bare (plaintext) or wrapped in a SECURITY-Request that the ESAM opened. The wrapping gives the
request a :class:`Mode`; the policy says, per object (OI) and operation, which modes are
accepted. The policy is F101's:

* attribute 2, *security mode selection*: enum, 0 = not enforced (every mode accepted: the
  unprotected baseline the attack harness compares against), 1 = enforced (the default);
* attribute 3, *explicit security modes*: array of structure {OI, long-unsigned mode word},
  overriding the default word for the objects it names.

The 16-bit mode word holds one 4-bit mask per operation, GET in bits 15-12, SET in 11-8,
ACTION in 7-4 and PROXY in 3-0; in each mask bit 3 accepts plaintext, bit 2 plaintext + MAC,
bit 1 ciphertext and bit 0 ciphertext + MAC (our reading of DL/T 698.45's "security mode
word"; see docs/security.md). The default word 0x7111 reads with plaintext + MAC or better and
writes, acts and proxies only with ciphertext + MAC; the meter's address (4001) and the ESAM's
public information (F100) are readable in plaintext so a terminal can discover a meter.

How a request's mode is judged (docs/security.md): bare is PLAINTEXT; a plaintext payload
with RN_MAC or SID_MAC is PLAINTEXT_MAC, and with RN alone it is PLAINTEXT_MAC for a GET (the
answer comes back MAC'd, which is what protects a read) and PLAINTEXT otherwise; a ciphertext
payload with a MAC is CIPHERTEXT_MAC, without one CIPHERTEXT.

A read protects what its *answer* carries, so a GET in PLAINTEXT_MAC of an object whose word
reads only in CIPHERTEXT_MAC is served with its answer raised to ciphertext + MAC under the
request's keys and binding (:meth:`SecurityPolicy.raises_read`): a terminal, which holds no
key and reads with plaintext + RN, still collects the values and the station's cryptographic
device decrypts them, while the power line carries ciphertext. The *private readings* policy
(:meth:`SecurityPolicy.make_readings_private`) gives that word to the metrology values, the
energy registers and the freezes (curves, daily and monthly values): they show when a household
is home. The standard's default word is kept for everything else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from wattguard.protocol import Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.security import Protection, SecurityRequest, VerificationKind

__all__ = [
    "DEFAULT_WORD",
    "PRIVATE_OBJECTS",
    "PRIVATE_READ_WORD",
    "Mode",
    "Operation",
    "SecurityPolicy",
    "mode_of",
]


class Mode(enum.IntEnum):
    """A request's protection, weakest first; the value is its bit in a 4-bit mask."""

    PLAINTEXT = 8
    PLAINTEXT_MAC = 4
    CIPHERTEXT = 2
    CIPHERTEXT_MAC = 1


class Operation(enum.IntEnum):
    """The operation's shift in the mode word."""

    GET = 12
    SET = 8
    ACTION = 4
    PROXY = 0


#: Reads: plaintext + MAC or better; writes, actions and proxies: ciphertext + MAC.
DEFAULT_WORD = 0x7111
#: Discovery: the address and the ESAM's public information are readable in plaintext.
PUBLIC_READ_WORD = 0xF111
_DEFAULT_EXPLICIT = {0x4001: PUBLIC_READ_WORD, 0xF100: PUBLIC_READ_WORD}
#: Private readings: reads only in ciphertext + MAC (a plaintext + MAC read gets its answer
#: raised to it); writes, actions and proxies as the default word.
PRIVATE_READ_WORD = 0x1111
#: The objects whose values show a household's life: the energy registers (0000-0080), the
#: instantaneous values (voltage 2000, current 2001, powers 2004-2006, power factor 200A,
#: frequency 200F), the freezes (5000 instant to 5007 yearly; 5002 is the load curve) and
#: the charging pile's energy and power (FF13, FF14: when an EV charges at home).
PRIVATE_OBJECTS = (
    *range(0x0000, 0x0090, 0x10),
    0x2000, 0x2001, 0x2004, 0x2005, 0x2006, 0x200A, 0x200F,
    *range(0x5000, 0x5008), 0xFF13, 0xFF14,
)  # fmt: skip


def mode_of(request: SecurityRequest | None, operation: Operation) -> Mode:
    """The mode a request arrived in (None: it came bare)."""
    if request is None:
        return Mode.PLAINTEXT
    kind = request.verification.kind
    has_mac = kind in (VerificationKind.RN_MAC, VerificationKind.SID_MAC)
    if request.payload.protection == Protection.CIPHERTEXT:
        return Mode.CIPHERTEXT_MAC if has_mac else Mode.CIPHERTEXT
    if has_mac or (kind == VerificationKind.RN and operation == Operation.GET):
        return Mode.PLAINTEXT_MAC
    return Mode.PLAINTEXT


@dataclass
class SecurityPolicy:
    """The F101 object: enforcement switch, default word and explicit words per OI."""

    enforced: bool = True
    default_word: int = DEFAULT_WORD
    explicit: dict[int, int] = field(default_factory=lambda: dict(_DEFAULT_EXPLICIT))

    def allows(self, oi: int, operation: Operation, mode: Mode) -> bool:
        if not self.enforced:
            return True
        word = self.explicit.get(oi, self.default_word)
        return bool((word >> operation) & mode)

    def raises_read(self, oi: int, mode: Mode) -> bool:
        """Whether a GET of ``oi`` in ``mode`` that :meth:`allows` refuses is served with
        its answer raised to ciphertext + MAC: a plaintext + MAC read of an object that reads
        in ciphertext + MAC (the request names objects; the answer carries the values)."""
        return (
            mode == Mode.PLAINTEXT_MAC
            and not self.allows(oi, Operation.GET, mode)
            and self.allows(oi, Operation.GET, Mode.CIPHERTEXT_MAC)
        )

    def make_readings_private(self) -> None:
        """Put the readings (:data:`PRIVATE_OBJECTS`) under ciphertext + MAC on the power
        line: their explicit word becomes :data:`PRIVATE_READ_WORD`."""
        self.explicit.update(dict.fromkeys(PRIVATE_OBJECTS, PRIVATE_READ_WORD))

    # F101 as the protocol reads and writes it.

    def attribute(self, attribute: int) -> Data:
        if attribute == 2:
            return Data(DataType.ENUM, int(self.enforced))
        return Data.array(
            *(
                Data.structure(Data(DataType.OI, oi), Data(DataType.LONG_UNSIGNED, word))
                for oi, word in sorted(self.explicit.items())
            )
        )

    def set_attribute(self, attribute: int, value: Data) -> DAR:
        """Apply a SET of attribute 2 or 3; a value of the wrong shape changes nothing."""
        if attribute == 2:
            if value.type != DataType.ENUM or value.value not in (0, 1):
                return DAR.TYPE_MISMATCH
            self.enforced = bool(value.value)
            return DAR.SUCCESS
        if value.type != DataType.ARRAY:
            return DAR.TYPE_MISMATCH
        table: dict[int, int] = {}
        for item in value.value:
            if (
                item.type != DataType.STRUCTURE
                or len(item.value) != 2
                or item.value[0].type != DataType.OI
                or item.value[1].type != DataType.LONG_UNSIGNED
            ):
                return DAR.TYPE_MISMATCH
            table[item.value[0].value] = item.value[1].value
        self.explicit = table
        return DAR.SUCCESS
