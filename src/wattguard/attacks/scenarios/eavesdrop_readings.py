"""Scenario 1, the power line's other half: what an eavesdropper learns of a household's life.

``hplc-eavesdrop-readings``: a passive tap on the power line records an evening of the
terminal's collection: every 15 minutes the real-time values (energy, voltage) and the new
rows of the load curve (the minute freeze 5002, a 15-minute profile), every hour the daily
freeze. A load curve shows when a household is home, asleep or away. The eavesdropper's goal
is that curve: the freeze rows, and the energy values, in the clear.

Protected, the meters' F101 policy keeps readings private (the demo's default): the objects of
``PRIVATE_OBJECTS`` read only in ciphertext + MAC, so the terminal's plaintext + RN reads are
answered in ciphertext + MAC that only the station's cryptographic device opens. Unprotected,
the standard's default word (plaintext + MAC) carries every value in the clear: integrity-
protected, not confidential. Both systems have the ESAMs and the cryptographic device; only
the policy differs. What the eavesdropper still learns under the private policy (which meters
exist, when they are read, how long the answers are, the meters' event reports) is in
docs/security.md. Nothing can notice a passive tap.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.deployed import Tap, hexed
from wattguard.attacks.scenarios.eavesdrop import readable
from wattguard.network.hplc import Direction
from wattguard.protocol import Data
from wattguard.protocol.apdu.common import AResultRecord
from wattguard.protocol.apdu.get import (
    GetResponseNormalList,
    GetResponseRecord,
    GetResponseRecordList,
)

__all__: list[str] = []


@scenario(
    1,
    "hplc-eavesdrop-readings",
    "a passive tap on the power line recovers the households' load curves and energy values "
    "from the terminal's reads",
    (Protection.DATA,),
    detectable=False,
)
def hplc_eavesdrop_readings(protected: bool) -> Outcome:
    from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock

    config = DeploymentConfig(
        meters=3, per_terminal=3, start=T0 + 17 * 3600, private_readings=protected, seed=0
    )  # seeded: an attack run is reproducible
    deployment = Deployment(config, virtual_clock(config))
    tap = Tap(deployment.nets[0])
    deployment.run_virtual(4 * 3600)
    rows, values, hidden, answers = 0, 0, 0, 0
    shown: list[bytes] = []
    for direction, _, frame in tap.frames:
        if direction != Direction.UP:
            continue
        apdu = readable(frame)
        if apdu is None:
            hidden += 1
            continue
        records: tuple[AResultRecord, ...] = ()
        if isinstance(apdu, GetResponseRecord):
            records = (apdu.result,)
        elif isinstance(apdu, GetResponseRecordList):
            records = apdu.results
        elif isinstance(apdu, GetResponseNormalList):
            found = sum(1 for r in apdu.results if isinstance(r.result, Data))
            values += found
            answers += bool(found)
            continue
        for record in records:
            if isinstance(record.result, tuple) and record.result:
                rows += len(record.result)
                shown.append(frame)
    stored = sum(
        len(deployment.storage.readings(m.hex(), "50020200/00100201", 0, 2**40))
        for m in deployment.nets[0].meters
    )
    return Outcome(
        rows > 0,
        f"{len(tap.frames)} frames captured, {hidden} answers unreadable (ciphertext); in the "
        f"clear: {rows} load-curve rows and {values} real-time values in {answers} answers "
        f"(the station stored {stored} curve values either way)",
        evidence=[f"curve answer as captured: {hexed(f)}" for f in shown[:2]],
    )
