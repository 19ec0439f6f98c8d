"""wattguard.esam: the soft ESAM (the meter's secure element) and its station-side counterpart.

The chip (:class:`Esam`) is reached only through command frames; :class:`EsamClient` is the
management module's driver for it; :class:`StationSecurity` is what the station's
cryptographic device computes for the same profile (docs/security.md).
"""
