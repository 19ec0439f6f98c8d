"""Scenario 10: the meter's internal links.

* ``spi-forgery``: a probe on the SPI bus between the metering chip and the management module
  rewrites the energy snapshot to a tenth of what was metered (energy theft). It has no key,
  so it keeps the frame's sequence number and leaves the MAC as it was.
* ``uart-malicious-expansion``: a compromised expansion module (the least trusted part, the
  one on the radio and power line) asks the management module to trip the relay on its own.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0, fresh_meter, household
from wattguard.meter.links.channel import _HEADER
from wattguard.meter.links.spi import MessageType
from wattguard.meter.links.uart import LocalRelay, UartMessage
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import decode_energy, encode_energy
from wattguard.protocol import Data, DataType
from wattguard.protocol.data import encode_data


@scenario(
    10,
    "spi-forgery",
    "forged metrology data on the SPI bus (a tenth of the energy reaches the management module)",
    (Protection.DATA, Protection.MONITORING),
)
def spi_forgery(protected: bool) -> Outcome:
    meter = fresh_meter(protected)
    household(meter, hours=1)
    tariffs = meter.management.registers.tariffs
    forged: list[str] = []

    def rewrite(message: bytes) -> list[bytes]:
        start, kind, sequence, length = _HEADER.unpack_from(message)
        if kind != MessageType.ENERGY:
            return [message]
        payload = message[_HEADER.size : _HEADER.size + length]
        registers = decode_energy(payload, tariffs)
        registers.forward_active[:] = [v // 10 for v in registers.forward_active]
        new_payload = encode_energy(registers)
        header = _HEADER.pack(start, kind, sequence, len(new_payload))
        out = header + new_payload + message[_HEADER.size + length :]
        forged.append(out.hex()[:80] + "...")
        return [out]

    meter.spi.manipulate = rewrite
    before = len(meter.log.security)
    household(meter, hours=1, start=T0 + 3600)
    seen = meter.management.registers.forward_active[0]
    metered = meter.metering.registers.forward_active[0]
    succeeded = seen < 0.5 * metered
    outcome = Outcome(
        succeeded,
        f"the management module holds {seen / 3.6e6:.2f} kWh of {metered / 3.6e6:.2f} kWh metered",
        evidence=forged[:3],
    )
    return outcome.saw(list(meter.log.security)[before:])


@scenario(
    10,
    "uart-malicious-expansion",
    "a compromised expansion module trips the customer's supply on its own",
    (Protection.IDENTITY, Protection.MONITORING),
)
def malicious_expansion(protected: bool) -> Outcome:
    meter = fresh_meter(protected)
    household(meter, hours=1)
    before = len(meter.log.security)
    trip = encode_data(Data(DataType.ENUM, LocalRelay.TRIP))
    meter.expansion.send(UartMessage.LOCAL_RELAY, trip)
    meter.handle_timer(T0 + 3600)
    state = meter.management.relay.state
    outcome = Outcome(
        state != RelayState.CLOSED,
        f"relay {state.value} after the expansion module asked for a trip",
        evidence=[f"UART LOCAL_RELAY {trip.hex()}"],
    )
    return outcome.saw(list(meter.log.security)[before:])
