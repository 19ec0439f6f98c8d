"""The package's public names do not drift, and the errors it raises sit in the one tree."""

from __future__ import annotations

from wattguard import errors, esam


def test_exported_members_do_not_drift() -> None:
    assert sorted(esam.__all__) == [
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
    for name in esam.__all__:
        assert hasattr(esam, name)


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
