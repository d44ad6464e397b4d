"""Fixtures of the funding-arb unit tests: a virtual clock and a strategy rig on paper venues (see farb_helpers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import BotConfig
from tests.unit.funding_arb.farb_helpers import Rig, build_rig


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(settle_rounds=60)


@pytest.fixture
async def make_rig(clock: VirtualClock) -> AsyncIterator[Callable[..., Any]]:
    """``await make_rig(config, {"paper-a": "0.00001", "paper-b": "0.00008"}, **build_rig kwargs)`` → :class:`Rig`."""
    rigs: list[Rig] = []

    async def factory(config: BotConfig, rates: Mapping[str, str | None], **kwargs: Any) -> Rig:
        rig = await build_rig(clock, config, rates, **kwargs)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        if rig.task is not None and not rig.task.done():
            rig.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(clock.drive(rig.task), 30)
        await rig.strategy.stop_updates()
        for venue in rig.venues.values():
            venue.down = False
            if venue.hang is not None:
                venue.hang.set()
            for task in venue.late:
                task.cancel()
            await venue.close()
