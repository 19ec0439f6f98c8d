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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from wattguard.protocol import Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.security import Protection, SecurityRequest, VerificationKind

__all__ = ["DEFAULT_WORD", "Mode", "Operation", "SecurityPolicy", "mode_of"]


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
