from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wattguard.crypto import _openssl, _sm2_reference, sm2

REFERENCE = _sm2_reference.ReferenceBackend()


@pytest.fixture(scope="session")
def openssl_backend() -> Any:
    try:
        return _openssl.OpenSSLBackend()
    except _openssl.BackendUnavailable as exc:  # pragma: no cover - depends on the machine
        from wattguard.testing.services import require

        require(False, f"the system OpenSSL has no usable SM2: {exc}")


@pytest.fixture(params=["openssl", "reference"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the public sm2 API on each backend in turn."""
    chosen = request.getfixturevalue("openssl_backend") if request.param == "openssl" else REFERENCE
    monkeypatch.setattr(sm2, "_BACKEND", chosen)
    yield request.param
