"""wattguard.esam: the soft ESAM (the meter's secure element) and its station-side counterpart.

The chip (:class:`Esam`) is reached only through command frames; :class:`EsamClient` is the
management module's driver for it; :class:`StationSecurity` is what the station's
cryptographic device computes for the same profile; :func:`provision` makes a chip as the
factory does. The profile is specified in docs/security.md.
"""

from wattguard.esam.certificate import Certificate, CertificateKind
from wattguard.esam.chip import Esam
from wattguard.esam.client import EsamClient, EsamInfo
from wattguard.esam.command import Sw
from wattguard.esam.profile import KeyId, MasterKeys, MeterKeys
from wattguard.esam.provisioning import provision, station_certificate
from wattguard.esam.station import StationSecurity, wrap_with_rn

__all__ = [
    "Certificate",
    "CertificateKind",
    "Esam",
    "EsamClient",
    "EsamInfo",
    "KeyId",
    "MasterKeys",
    "MeterKeys",
    "StationSecurity",
    "Sw",
    "provision",
    "station_certificate",
    "wrap_with_rn",
]
