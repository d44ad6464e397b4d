"""Issue 19, "fixing the Secret retries" preflight: ``perpdex bot`` as a real process against the real API server
(its TradingBot, Lease and credentials Secret there), on the paper venue. A failed preflight keeps the process up in
phase Failed while the Secrets it references (``PERPDEX_SECRET_NAMES``) keep their versions; once one of them
changes, it writes the reason to the TradingBot's status and exits 0 so the kubelet restarts the container with the
Secret's new values. No Secret value appears in its output or its status."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Kube
from tests.integration.bot.bot_harness import BotRun, fast_paper_spec, write_manifest
from tests.integration.bot.test_process_kubernetes import cr_status, eventually, pod_env

pytestmark = pytest.mark.integration

SECRET = "creds-restart"
OLD_VALUE = "old-key-value-0123456789"
NEW_VALUE = "new-key-value-9876543210"


@pytest.fixture
def runs() -> Iterator[list[BotRun]]:
    started: list[BotRun] = []
    yield started
    for run in started:
        run.kill()


def secret(namespace: str, value: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": namespace},
            "data": {"API_KEY": base64.b64encode(value.encode()).decode()},
        }
    )


@pytest.fixture
def failing_bot(crds_installed: Kube, namespace: str, tmp_path: Path) -> tuple[Kube, str, str, Path]:
    """A TradingBot whose quantity is under the paper market's minimum (preflight fails), and its Secret."""
    kube = crds_installed
    spec = fast_paper_spec(grid={"quantity": "0.00001", "takeProfit": "0.05", "maxOrders": 10, "waitTime": "2s"})
    manifest = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "tiny", "namespace": namespace},
        "spec": spec,
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    kube.kubectl("apply", "-f", "-", input=secret(namespace, OLD_VALUE))
    return kube, namespace, "tiny", write_manifest(tmp_path / "tiny.yaml", "tiny", spec, namespace)


def start(kube: Any, namespace: str, name: str, config: Path, tmp_path: Path, runs: list[BotRun]) -> BotRun:
    env = {**pod_env(kube, namespace, name, f"{name}-0"), "PERPDEX_SECRET_NAMES": SECRET}
    bot = BotRun(config, tmp_path, env=env, extra_args=("--secret-poll-interval", "0.2", "--log-level", "DEBUG"))
    runs.append(bot)
    return bot


def test_a_changed_secret_ends_the_failed_bot_with_exit_0_and_a_note(
    failing_bot: tuple[Kube, str, str, Path], tmp_path: Path, runs: list[BotRun]
) -> None:
    kube, namespace, name, config = failing_bot
    bot = start(kube, namespace, name, config, tmp_path, runs)
    eventually(lambda: cr_status(kube, namespace, name).get("phase") == "Failed", 60, "phase Failed")
    # unchanged: it keeps polling, stays up and Failed (no restart, no crash loop)
    bot.wait_for(lambda x: len(bot.messages("Secret versions unchanged")) >= 3, 60, "three unchanged polls")
    assert bot.proc.poll() is None
    assert cr_status(kube, namespace, name)["phase"] == "Failed"

    kube.kubectl("apply", "-f", "-", input=secret(namespace, NEW_VALUE))
    assert bot.wait(60) == 0  # the kubelet restarts the container with the new env: not a crash
    note = f"credentials Secret {SECRET} changed: restarting to read it"
    status = eventually(lambda: (s := cr_status(kube, namespace, name)).get("lastError") == note and s, 30, "note")
    assert status["phase"] == "Failed" and status["preflight"]["passed"] is False
    assert bot.messages("stopped")[-1]["reason"] == note
    assert not bot.messages("order")  # nothing was placed
    text = bot.output() + json.dumps(status)
    for value in (OLD_VALUE, NEW_VALUE):
        assert value not in text and base64.b64encode(value.encode()).decode() not in text


def test_without_the_names_the_failed_bot_stays_up(
    failing_bot: tuple[Kube, str, str, Path], tmp_path: Path, runs: list[BotRun]
) -> None:
    """Outside a pod built by the operator (no PERPDEX_SECRET_NAMES) nothing is polled: a changed Secret ends
    nothing, the bot stays in Failed until stopped."""
    kube, namespace, name, config = failing_bot
    bot = BotRun(config, tmp_path, env=pod_env(kube, namespace, name, f"{name}-0"), extra_args=("--log-level", "DEBUG"))
    runs.append(bot)
    eventually(lambda: cr_status(kube, namespace, name).get("phase") == "Failed", 60, "phase Failed")
    kube.kubectl("apply", "-f", "-", input=secret(namespace, NEW_VALUE))
    assert bot.proc.poll() is None and not bot.messages("Secret versions unchanged")
    assert bot.terminate() == 0
