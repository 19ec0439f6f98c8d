import pytest

from wattguard.crypto.vectors import load, parse
from wattguard.errors import ConfigError

FILES = ["sm3", "sm4", "sm4_gcm", "sm2_sign", "sm2_encrypt", "sm2_exchange"]


@pytest.mark.parametrize("name", FILES)
def test_every_case_names_its_source(name: str) -> None:
    cases = load(name)
    assert cases
    for case in cases:
        assert case.source.startswith(("GB/T", "RFC"))


def test_a_case_without_a_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="no '# source:'"):
        parse("key = 00\n")
    with pytest.raises(ConfigError, match="not a 'key = value'"):
        parse("# source: x\njunk\n")
