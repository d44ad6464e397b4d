"""Small parts of the runner: where it thinks it runs, its stop budget, its probes."""

from __future__ import annotations

import os
import socket

from bot_runtime.config import OnStop
from bot_runtime.process.lease import KubeTarget
from bot_runtime.process.lifecycle import Budget, grace_seconds


def test_kube_target_from_env() -> None:
    assert KubeTarget.from_env({}) is None
    assert KubeTarget.from_env({"PERPDEX_BOT_NAME": "b"}) is None  # both name and namespace are needed
    env = {"PERPDEX_BOT_NAME": "b", "PERPDEX_NAMESPACE": "ns", "POD_NAME": "b-0", "POD_UID": "6f1c-uid"}
    target = KubeTarget.from_env(env)
    # the pod UID, never the (reused) pod name: a replacement pod never shares the identity of the one it replaces
    assert target == KubeTarget(name="b", namespace="ns", identity="6f1c-uid")
    target = KubeTarget.from_env({"PERPDEX_BOT_NAME": "b", "PERPDEX_NAMESPACE": "ns", "POD_NAME": "b-0"})
    assert target is not None and target.identity != "b-0"
    # without the pod UID, two processes on one host still get different identities
    target = KubeTarget.from_env({"PERPDEX_BOT_NAME": "b", "PERPDEX_NAMESPACE": "ns"})
    assert target is not None and target.identity == f"{socket.gethostname()}-{os.getpid()}"


def test_grace_follows_the_operators_grace_period() -> None:
    assert grace_seconds(OnStop.CANCEL_ORDERS, {}) == 25.0  # 30 s pod grace minus the margin
    assert grace_seconds(OnStop.CLOSE_POSITIONS, {}) == 85.0
    assert grace_seconds(OnStop.LEAVE, {}) == 15.0
    assert grace_seconds(OnStop.LEAVE, {"PERPDEX_GRACE_SECONDS": "60"}) == 55.0
    assert grace_seconds(OnStop.LEAVE, {"PERPDEX_GRACE_SECONDS": "junk"}) == 15.0
    assert grace_seconds(OnStop.LEAVE, {"PERPDEX_GRACE_SECONDS": "1"}) == 5.0  # never below 5 s


def test_budget_keeps_the_reserve_of_later_steps() -> None:
    budget = Budget(20.0)
    assert 9.0 < budget.left(cap=100.0, reserve=10.0) <= 10.0
    assert budget.left(cap=3.0) == 3.0
    assert budget.left(cap=5.0, reserve=30.0) == 0.1  # exhausted: a token amount, never negative


def paper_process(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from bot_runtime.config import parse_config
    from bot_runtime.logs import SecretRedactor
    from bot_runtime.process.bot import BotProcess, RunOptions

    config = parse_config(
        {"name": "b", "strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.01"}}
    )
    return BotProcess(config, RunOptions(metrics_port=0), redactor=SecretRedactor(), env=env)


async def test_probes() -> None:
    import time

    bot = paper_process({})
    assert bot.liveness().ok
    bot.last_sample = time.monotonic() - 120  # the sampler has not run for 2 minutes
    live = bot.liveness()
    assert not live.ok and live.reasons[0].startswith("no heartbeat for")
    ready = bot.readiness()
    assert not ready.ok and ready.reasons == ("not connected to the exchange",)
    bot.connected = True
    assert bot.readiness().ok  # outside Kubernetes no lease is needed
    bot.stopping.set()
    assert bot.readiness().reasons == ("stopping",)

    in_cluster = paper_process({"PERPDEX_BOT_NAME": "b", "PERPDEX_NAMESPACE": "ns", "POD_NAME": "b-0"})
    in_cluster.connected = True
    assert in_cluster.readiness().reasons == ("not holding the lease",)
