"""The HPLC channel: timing from latency, bandwidth and hops; a shared medium; seeded loss."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.network import Direction, HplcChannel, LinkProfile
from wattguard.network.hplc import Delivery

A, B = bytes.fromhex("000000000001"), bytes.fromhex("000000000002")


def arrived(channel: HplcChannel, now: float) -> list[Delivery]:
    """Run the channel's timer at ``now`` and take every delivery it hands out."""
    channel.handle_timer(now)
    out = []
    while (delivery := channel.next_event()) is not None:
        out.append(delivery)
    return out


def test_arrival_time_is_queueing_plus_hops_of_latency_and_airtime() -> None:
    channel = HplcChannel(default=LinkProfile(latency=0.01, bandwidth=8000.0, hops=3))
    channel.attach(A)
    channel.send(Direction.DOWN, A, bytes(100), now=10.0)  # 100 bytes = 0.1 s of air per hop
    assert arrived(channel, 10.32) == []
    (delivery,) = arrived(channel, 10.33 + 1e-9)
    assert delivery.data == bytes(100) and delivery.direction == Direction.DOWN
    assert delivery.at == pytest.approx(10.0 + 3 * (0.01 + 0.1))


def test_the_timer_names_the_next_arrival_and_events_come_only_after_it_runs() -> None:
    channel = HplcChannel(default=LinkProfile(latency=0.01, bandwidth=8000.0))
    channel.attach(A)
    assert channel.get_timer() is None
    channel.send(Direction.UP, A, bytes(10), now=5.0)  # 10 bytes = 0.01 s of air
    channel.send(Direction.UP, A, bytes(10), now=5.0)  # queues behind the first
    first_at = channel.get_timer()
    assert first_at == pytest.approx(5.02)
    assert channel.next_event() is None  # nothing is handed out before its time has run
    channel.handle_timer(first_at)
    delivery = channel.next_event()
    assert delivery is not None and delivery.at == first_at
    assert channel.next_event() is None
    assert channel.get_timer() == pytest.approx(5.03)
    assert [d.at for d in arrived(channel, 5.03 + 1e-9)] == [pytest.approx(5.03)]
    assert channel.get_timer() is None


def test_the_medium_is_shared_so_frames_queue() -> None:
    channel = HplcChannel(default=LinkProfile(latency=0.0, bandwidth=8000.0))
    channel.attach(A)
    channel.attach(B)
    channel.send(Direction.DOWN, A, bytes(100), now=0.0)
    channel.send(Direction.UP, B, bytes(100), now=0.0)
    first, second = arrived(channel, 1.0)
    assert (first.address, second.address) == (A, B)
    assert second.at == pytest.approx(first.at + 0.1)


def test_loss_is_seeded_and_close_to_the_configured_rate() -> None:
    def run(seed: int) -> list[float]:
        channel = HplcChannel(seed, LinkProfile(loss=0.2))
        channel.attach(A)
        for i in range(2000):
            channel.send(Direction.UP, A, bytes([i % 256]), now=float(i))
        return [d.at for d in arrived(channel, 1e9)]

    once, again, other = run(7), run(7), run(8)
    assert once == again and once != other
    assert 0.17 < 1 - len(once) / 2000 < 0.23


@given(st.integers(1, 5), st.floats(0.0, 0.5))
def test_loss_compounds_per_hop(hops: int, loss: float) -> None:
    channel = HplcChannel(1, LinkProfile(loss=loss, hops=hops))
    channel.attach(A)
    for i in range(400):
        channel.send(Direction.DOWN, A, b"x", float(i))
    delivered = len(arrived(channel, 1e9))
    assert delivered + channel.lost == 400
    expected = 400 * (1 - loss) ** hops
    assert abs(delivered - expected) < 5 * (400 * 0.25) ** 0.5 + 1


def test_manipulate_sees_every_frame() -> None:
    seen: list[bytes] = []

    def tap(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
        seen.append(data)
        return [data, data]  # and replays it

    channel = HplcChannel(manipulate=tap)
    channel.attach(A)
    channel.send(Direction.UP, A, b"reading", 0.0)
    assert seen == [b"reading"]
    assert [d.data for d in arrived(channel, 10.0)] == [b"reading", b"reading"]


def test_unknown_meters_and_bad_profiles_are_refused() -> None:
    with pytest.raises(ConfigError, match="not on this power-line network"):
        HplcChannel().send(Direction.DOWN, A, b"", 0.0)
    for bad in ({"loss": 1.0}, {"hops": 0}, {"bandwidth": 0.0}, {"latency": -1.0}):
        with pytest.raises(ConfigError):
            LinkProfile(**bad)  # type: ignore[arg-type]
