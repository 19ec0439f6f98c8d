"""A concentrator's Bluetooth radio: the collection terminal's local channel to its meters when
Bluetooth replaces HPLC.

Theory of operation. The concentrator holds a certificate of role CONCENTRATOR from the utility
CA (unbound: it reads every meter of its archive). For each meter it pairs once, as a handheld
does (:class:`~wattguard.meter.bluetooth.handheld.Handheld`), and then carries the terminal's
DL/T 698.45 link frames inside the sealed session; the meter hands them to the same 698 server
the power line reaches, so a read over Bluetooth is judged by the same F101 policy and
answered by the same ESAM (plaintext + MAC bound to the terminal's random number) as over HPLC,
with the Bluetooth session's SM4-GCM around it. The meter's answer frame (and whatever it had
waiting) comes back in the reply; what the meter sends on its own (an active report) comes as
a notification sealed in the same session, opened by :meth:`ConcentratorRadio.notified`.

A meter keeps the concentrator's session beside the one of a technician, a phone or a sensor;
it ends when it has been idle for a day or another concentrator pairs.
:meth:`ConcentratorRadio.exchange` then pairs again and sends once more; any other refusal
reaches the caller as
:class:`~wattguard.meter.bluetooth.handheld.PairingRefused`. Sans-IO: the caller supplies the
``transport(frame) -> reply`` to the meter.
"""

from __future__ import annotations

import os

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError, IntegrityError, RemoteProtocolError
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused, Transport
from wattguard.meter.bluetooth.pairing import RefusalCode
from wattguard.meter.links.channel import ReplayError
from wattguard.randomness import Random

__all__ = ["ConcentratorRadio"]


class ConcentratorRadio:
    """A concentrator's end of its Bluetooth links, one paired session per meter address (see
    the module docstring). ``pairings`` counts the pairings it ran."""

    def __init__(
        self,
        private_key: sm2.PrivateKey,
        certificate: HandheldCertificate,
        *,
        random: Random = os.urandom,
    ) -> None:
        if certificate.role != Role.CONCENTRATOR:
            raise ConfigError("a concentrator's certificate names the CONCENTRATOR role")
        self.private_key = private_key
        self.certificate = certificate
        self.random = random
        self.pairings = 0
        self._sessions: dict[bytes, Handheld] = {}

    def exchange(self, address: bytes, frame: bytes, transport: Transport) -> bytes:
        """Carry one link ``frame`` to the meter at ``address``; the bytes it answered.
        ``b""`` when the meter did not answer (out of range, no mains) or its answer failed
        the session's checks: the frame is lost, as on a bad line. PairingRefused when the
        meter refuses the concentrator."""
        try:
            session = self._sessions.get(address)
            if session is not None:
                try:
                    return session.request(transport, frame)
                except PairingRefused as refused:
                    if refused.code != RefusalCode.NOT_PAIRED:
                        raise
            return self._pair(address, transport).request(transport, frame)
        except (DecodeError, IntegrityError, ReplayError, RemoteProtocolError):
            return b""

    def notified(self, address: bytes, frame: bytes) -> bytes:
        """The link bytes of a notification the meter at ``address`` sealed in its session
        (:meth:`~wattguard.meter.bluetooth.service.BluetoothService.notify`); ``b""`` for a
        frame from a meter without a session or one that fails its tag or counter (dropped,
        as a corrupt frame on a line is)."""
        session = self._sessions.get(address)
        if session is None:
            return b""
        try:
            return session.open(frame)
        except (DecodeError, IntegrityError, ReplayError, PairingRefused):
            return b""

    def _pair(self, address: bytes, transport: Transport) -> Handheld:
        self._sessions.pop(address, None)
        session = Handheld(
            self.certificate.handheld_id,
            private_key=self.private_key,
            certificate=self.certificate,
            random=self.random,
        )
        self.pairings += 1
        session.pair_certificate(transport)
        self._sessions[address] = session
        return session
