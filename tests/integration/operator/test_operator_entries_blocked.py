"""``status.entriesBlocked`` on the real API server (issue 21): the bot's own status writer puts it there (the CRD's
schema takes it, and refuses a malformed item), the operator turns it into the ``EntriesBlocked`` condition and
posts an Event per change: a Warning when entries back off or stop, a Normal one when they are open again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot_runtime.kube import ApiError, KubeClient
from bot_runtime.status import BotStatus, EntryBlock, KubeStatusSink
from tests.integration.operator.operator_helpers import (
    bot_path,
    condition,
    create_bot,
    events_for,
    eventually,
    paper_bot,
)

pytestmark = pytest.mark.integration


def block(reason: str, message: str, *, until: datetime | None) -> EntryBlock:
    since = datetime.now(UTC).replace(microsecond=0)
    return EntryBlock(
        symbol="BTC", venues=("aster", "lighter"), reason=reason, message=message, since=since, until=until
    )


async def condition_is(client: KubeClient, ns: str, name: str, status: str, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        cr = await client.get(bot_path(ns, name))
        try:
            c = condition(cr, "EntriesBlocked")
        except AssertionError:
            return None
        return c if (c["status"], c["reason"]) == (status, reason) else None

    found: dict[str, Any] = await eventually(check, what=f"EntriesBlocked={status}/{reason}")
    return found


async def event_with(client: KubeClient, ns: str, name: str, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        return next((e for e in await events_for(client, ns, name) if e["reason"] == reason), None)

    found: dict[str, Any] = await eventually(check, what=f"an Event {reason}")
    return found


async def test_blocked_entries_are_a_condition_and_events(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "blocked"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        sink = KubeStatusSink(client, ns, name)

        async def write(*blocks: EntryBlock) -> None:
            await sink.write(BotStatus(phase="Running", last_heartbeat=datetime.now(UTC), entries_blocked=blocks))

        await write()
        assert (await client.get(bot_path(ns, name)))["status"]["entriesBlocked"] == []
        await condition_is(client, ns, name, "False", "NoneBlocked")

        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=600)
        backoff = block("FailedEntriesBackoff", "backing off after 1 consecutive failed entry", until=until)
        await write(backoff)
        cond = await condition_is(client, ns, name, "True", "FailedEntriesBackoff")
        stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"BTC on aster/lighter: FailedEntriesBackoff until {stamp}: backing off after 1" in cond["message"]
        event = await event_with(client, ns, name, "FailedEntriesBackoff")
        assert event["type"] == "Warning" and "EntriesBlocked False -> True" in event["message"]

        stopped = block("FailedEntriesStopped", "stopped after 5 consecutive failed entries (limit 5)", until=None)
        await write(stopped)
        cond = await condition_is(client, ns, name, "True", "FailedEntriesStopped")
        assert "stopped after 5 consecutive failed entries" in cond["message"]
        event = await event_with(client, ns, name, "FailedEntriesStopped")
        assert event["type"] == "Warning" and "stopped after 5" in event["message"]
        item = (await client.get(bot_path(ns, name)))["status"]["entriesBlocked"][0]
        assert item["reason"] == "FailedEntriesStopped" and "until" not in item

        # the schema refuses an item without its reason's form
        with pytest.raises(ApiError) as refused:
            await client.patch(
                bot_path(ns, name, "status"),
                {"status": {"entriesBlocked": [{**stopped.to_status(), "reason": "not camel case"}]}},
                patch_type="merge",
            )
        assert refused.value.status == 422

        await write()
        await condition_is(client, ns, name, "False", "NoneBlocked")
        event = await event_with(client, ns, name, "NoneBlocked")
        assert event["type"] == "Normal"
