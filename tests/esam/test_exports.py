"""The errors the ESAM raises sit in the one tree (its public names: tests/test_public_names.py)."""

from __future__ import annotations

from wattguard import errors


def test_esam_errors_are_security_errors_with_their_family() -> None:
    assert issubclass(errors.MacError, errors.IntegrityError)
    assert issubclass(errors.CounterError, errors.ReplayError)
    for kind in (errors.KeyVersionError, errors.EsamCertificateError, errors.WalletError):
        assert issubclass(kind, errors.EsamError)
    assert issubclass(errors.EsamCertificateError, errors.CertificateError)
    assert issubclass(errors.EsamError, errors.SecurityError)
    error = errors.MacError(sw=0x6988)
    assert error.sw == 0x6988 and "6988" in str(error)
    assert str(errors.ReplayError()) == "message refused"
