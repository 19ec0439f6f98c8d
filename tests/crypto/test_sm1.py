import pytest

from wattguard.crypto import sm1
from wattguard.errors import ConfigError


def test_sm1_without_hardware_refuses_and_says_why() -> None:
    assert not sm1.available()
    with pytest.raises(ConfigError, match="hardware") as refused:
        sm1.encrypt(1, bytes(16))
    assert "SM4" in str(refused.value)
    with pytest.raises(ConfigError):
        sm1.decrypt(1, bytes(16))


def test_sm1_forwards_to_a_registered_hardware_provider() -> None:
    calls = []

    class Device:
        name = "test device"

        def sm1_encrypt(self, key_id: int, data: bytes) -> bytes:
            calls.append(("enc", key_id, data))
            return b"E" * len(data)

        def sm1_decrypt(self, key_id: int, data: bytes) -> bytes:
            calls.append(("dec", key_id, data))
            return b"D" * len(data)

    sm1.register_provider(Device())
    try:
        assert sm1.available()
        assert sm1.encrypt(3, bytes(16)) == b"E" * 16
        assert sm1.decrypt(4, bytes(16)) == b"D" * 16
        assert calls == [("enc", 3, bytes(16)), ("dec", 4, bytes(16))]
    finally:
        sm1.register_provider(None)
    assert not sm1.available()
