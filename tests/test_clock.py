import pytest

from wattguard import Clock, ConfigError, SystemClock, VirtualClock


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(start=1000.0)
    assert isinstance(clock, Clock)
    assert (clock.time(), clock.monotonic()) == (1000.0, 0.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (1002.5, 2.5)
    clock.set_time(10.0)  # a clock set backwards (tampering, or a time sync)
    assert (clock.time(), clock.monotonic()) == (10.0, 2.5)
    with pytest.raises(ConfigError):
        clock.advance(-1)


def test_system_clock_reads_the_machine() -> None:
    import time

    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert abs(clock.time() - time.time()) < 5
    first = clock.monotonic()
    assert clock.monotonic() >= first
