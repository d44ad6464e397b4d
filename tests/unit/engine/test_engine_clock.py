from __future__ import annotations

import asyncio

import pytest

from bot_runtime.clock import SystemClock, VirtualClock


async def test_virtual_sleepers_wake_in_order_of_their_time() -> None:
    clock = VirtualClock(start=1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.time()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("c", 30), ("a", 10), ("b", 20), ("late", 500))]
    await clock.advance(25)
    assert woke == [("a", 1010.0), ("b", 1020.0)]
    assert clock.time() == 1025.0
    await clock.advance(5)
    assert woke[-1] == ("c", 1030.0)
    assert clock.pending == 1
    tasks[-1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.pending == 0


async def test_wait_event_times_out_on_the_clock_or_returns_when_set() -> None:
    clock = VirtualClock()
    event = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_event(event, 60))
    await clock.advance(59)
    assert not waiter.done()
    await clock.advance(1)
    assert await waiter is False
    second = asyncio.create_task(clock.wait_any([asyncio.Event(), event], 60))
    await clock.settle()
    event.set()
    await clock.settle()
    assert second.done() and second.result() is True
    assert clock.pending == 0  # the losing sleeper was withdrawn


async def test_drive_runs_to_completion_on_virtual_time() -> None:
    clock = VirtualClock(start=0.0)

    async def work() -> float:
        for _ in range(10):
            await clock.sleep(3600)
        return clock.time()

    assert await clock.drive(work()) == 36000.0
    with pytest.raises(TimeoutError):
        await clock.drive(asyncio.Event().wait())


async def test_system_clock_waits_for_real() -> None:
    clock = SystemClock()
    event = asyncio.Event()
    event.set()
    assert await clock.wait_event(event, 5) is True
    assert await clock.wait_event(asyncio.Event(), 0) is False
    assert abs(clock.now().timestamp() - clock.time()) < 1
