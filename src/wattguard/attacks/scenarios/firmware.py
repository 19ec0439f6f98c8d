"""Scenario 7: malicious firmware for the management module.

The adversary has got an image into the station's upgrade channel (a compromised build or
file server: the supply chain). The transfer itself is then authorised: the station's
cryptographic device wraps every F001 ACTION in ciphertext + MAC, and the meter's ESAM opens
it. What still stands between the image and the meter is the image's own protection, the
vendor's SM2 signature over a header that holds the body's SM3 digest and its version
(:mod:`wattguard.meter.management.firmware`), checked before anything is activated.

* ``firmware-unsigned``: an image with no signature at all;
* ``firmware-forged-signature``: an image that names the vendor's key but is signed with the
  attacker's own;
* ``firmware-tampered``: the vendor's genuine, signed image with a backdoor patched into its
  body;
* ``firmware-rollback``: the vendor's genuine, signed, *older* image (one with a known
  vulnerability), to undo a security fix.

Unprotected, the same images go as plaintext ACTIONs to a meter with no ESAM that only decodes
the image. Success is judged by what the meter runs after its next restart.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import ADDRESS, T0
from wattguard.attacks.scenarios.rigs import VENDOR, MeterRig, meter_rig
from wattguard.crypto import sm2, sm3
from wattguard.meter.device import MeterConfig
from wattguard.meter.management.firmware import SIGNATURE_SIZE, FirmwareBuilder, FirmwareImage
from wattguard.protocol import OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.values import BitString

BLOCK = 512
GENUINE = FirmwareBuilder(VENDOR, "WTGD")
ATTACKER = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: firmware attacker"))
FACTORY = GENUINE.build(b"factory image 1.2.0 " * 60, "1.2.0")
#: What the adversary wants to run: a body that keeps the supply tripped on command.
BACKDOOR = b"backdoor: open relay on magic frame " * 40


def _start(size: int, version: str) -> Data:
    info = Data.structure(
        Data(DataType.VISIBLE_STRING, "management.img"),
        Data(DataType.VISIBLE_STRING, "/fw/management"),
        Data(DataType.DOUBLE_LONG_UNSIGNED, size),
        Data(DataType.BIT_STRING, BitString(b"\xe0", 3)),
        Data(DataType.VISIBLE_STRING, version),
        Data(DataType.ENUM, 0),
    )
    check = Data.structure(Data(DataType.ENUM, 0), Data(DataType.OCTET_STRING, b""))
    return Data.structure(info, Data(DataType.LONG_UNSIGNED, BLOCK), check)


def _actions(image: bytes) -> list[ActionRequest]:
    version = str(FirmwareImage.parse(image).version)
    out = [ActionRequest(1, OMD(0xF001, 7, 0), _start(len(image), version))]
    for k, i in enumerate(range(0, len(image), BLOCK)):
        block = Data.structure(
            Data(DataType.LONG_UNSIGNED, i // BLOCK),
            Data(DataType.OCTET_STRING, image[i : i + BLOCK]),
        )
        out.append(ActionRequest(k % 62 + 2, OMD(0xF001, 8, 0), block))
    return out


def _upgrade(protected: bool, image: bytes, what: str) -> Outcome:
    config = MeterConfig(protected=protected, vendor_key=VENDOR.public_key)
    rig: MeterRig = meter_rig(ADDRESS, T0, config)
    upgrader = rig.meter.upgrader
    assert upgrader is not None  # the vendor key is configured
    upgrader.provision(FACTORY, T0)
    rig.meter.restart(T0)
    before = len(rig.meter.log.security)
    dars = []
    for k, request in enumerate(_actions(image)):
        answer = rig.command(request, T0 + 60 + k)
        dars.append(int(answer.result.dar) if isinstance(answer, ActionResponseNormal) else -1)
    boot = rig.meter.restart(T0 + 3600)
    running = upgrader.image(upgrader.active_slot)
    wanted = FirmwareImage.parse(image)
    succeeded = running is not None and running.body == wanted.body
    version = "nothing" if boot is None else str(boot.version)
    outcome = Outcome(
        succeeded,
        f"{what} {wanted.version}: the last block answered DAR {dars[-1]}; "
        f"after a restart the meter runs {version}"
        + (" (the attacker's image)" if succeeded else " (the vendor's)"),
        evidence=[
            f"{len(dars)} F001 ACTIONs {'ciphertext + MAC' if protected else 'plaintext'}",
            f"first frame {rig.line.sent[0].hex()[:96]}...",
            f"image header {image[:60].hex()[:96]}...",
        ],
    )
    return outcome.saw(list(rig.meter.log.security)[before:])


@scenario(
    7,
    "firmware-unsigned",
    "an unsigned management-module image pushed through the station's upgrade channel",
    (Protection.IDENTITY, Protection.MONITORING),
)
def unsigned(protected: bool) -> Outcome:
    image = GENUINE.build(BACKDOOR, "2.0.0", sign=False)
    return _upgrade(protected, image, "unsigned image")


@scenario(
    7,
    "firmware-forged-signature",
    "an image that names the vendor's key but is signed with the attacker's",
    (Protection.IDENTITY, Protection.MONITORING),
)
def forged_signature(protected: bool) -> Outcome:
    unsigned_image = FirmwareImage.parse(GENUINE.build(BACKDOOR, "2.0.0", sign=False))
    forged = ATTACKER.sign(unsigned_image.signed_part)  # key id still the vendor's
    image = unsigned_image.signed_part + forged + unsigned_image.body
    assert len(forged) == SIGNATURE_SIZE
    return _upgrade(protected, image, "image signed with the attacker's key")


@scenario(
    7,
    "firmware-tampered",
    "the vendor's signed image with a backdoor patched into its body",
    (Protection.IDENTITY, Protection.MONITORING),
)
def tampered(protected: bool) -> Outcome:
    genuine = GENUINE.build(b"vendor image 1.3.0 " * 80, "1.3.0")
    patch = b"backdoor"
    at = len(genuine) - 200
    image = genuine[:at] + patch + genuine[at + len(patch) :]
    return _upgrade(protected, image, "tampered vendor image")


@scenario(
    7,
    "firmware-rollback",
    "the vendor's genuine but older image, to undo a security fix",
    (Protection.IDENTITY, Protection.MONITORING),
)
def rollback(protected: bool) -> Outcome:
    image = GENUINE.build(b"vendor image 1.0.0 with a known hole " * 40, "1.0.0")
    return _upgrade(protected, image, "older vendor image")
