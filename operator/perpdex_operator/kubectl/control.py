"""``pause``, ``resume`` and ``flatten``: the plugin changes only ``spec`` (``paused``, ``onStop``), exactly what a
user could ``kubectl patch``; the operator and the bot do the rest (SPEC §4: ``paused: true`` stops the bot gracefully
with its ``onStop``, replicas 0, phase Paused).

``flatten`` closes the positions, then pauses:

1. a bot whose ``onStop`` is not ``closePositions`` gets it first, and the plugin waits for the bot's pod to be
   replaced (a new pod UID) and the bot to report Running again: a pod reads ``onStop`` when it starts;
2. ``paused: true``: the bot stops opening, closes its positions (reduce-only) and the pod goes away;
3. the plugin waits until the bot reports a stopped phase with no position and no funding-arb legs; then it puts
   the user's ``onStop`` back. On timeout it says what is left (position, legs, phase) and exits non-zero; the bot
   stays paused and ``onStop`` stays ``closePositions`` so a retry finishes the job.

A paused bot has no pod to close anything: flattening one that still holds a position is refused with what to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perpdex_operator.kubectl import display as d
from perpdex_operator.kubectl.kube import FIELD_MANAGER, TRADINGBOTS, Kubectl, KubectlError, NotFound
from perpdex_operator.kubectl.models import TradingBot
from perpdex_operator.kubectl.views import load_bot

CLOSE_POSITIONS = "closePositions"
STOPPED_PHASES = frozenset({"Paused", "Stopped"})
POLL_S = 2.0


class FlattenIncomplete(KubectlError):
    """The wait ran out; the message says what is left."""


def patch_spec(kubectl: Kubectl, namespace: str, name: str, spec: dict[str, Any]) -> TradingBot:
    try:
        out = kubectl.json(
            [
                "patch",
                TRADINGBOTS,
                name,
                "-n",
                namespace,
                "--type=merge",
                f"--field-manager={FIELD_MANAGER}",
                "-p",
                json.dumps({"spec": spec}),
            ]
        )
    except NotFound as exc:
        raise NotFound(f"tradingbot {name!r} not found in namespace {namespace!r}") from exc
    return TradingBot.model_validate(out)


def set_paused(kubectl: Kubectl, namespace: str, name: str, paused: bool) -> tuple[TradingBot, bool]:
    """Set ``spec.paused``; returns the bot and whether anything changed."""
    bot = load_bot(kubectl, namespace, name)
    if bot.spec.paused == paused:
        return bot, False
    return patch_spec(kubectl, namespace, name, {"paused": paused}), True


def is_flat(bot: TradingBot) -> bool:
    """No funding-arb leg and a reported position of zero (an unreported position is not flat)."""
    return not bot.status.legs and bot.status.position is not None and bot.status.position == 0


def what_is_left(bot: TradingBot) -> str:
    s = bot.status
    legs = ", ".join(
        f"{leg.symbol} {d.size(leg.size)} long {leg.long_exchange}/short {leg.short_exchange}" for leg in s.legs
    )
    return f"phase {s.phase or 'unknown'}, position {d.size(s.position)}" + (f", legs: {legs}" if legs else "")


@dataclass
class Flatten:
    kubectl: Kubectl
    namespace: str
    name: str
    timeout: float
    say: Callable[[str], None]
    sleep: Callable[[float], None] = time.sleep

    def run(self) -> TradingBot:
        deadline = time.monotonic() + self.timeout
        bot = load_bot(self.kubectl, self.namespace, self.name)
        original = bot.spec.on_stop
        if bot.spec.paused:
            if is_flat(bot):
                self.say(f"{self.name} is already paused and flat")
                return bot
            raise KubectlError(
                f"{self.name} is paused with {what_is_left(bot)}: a paused bot has no pod to close it. Resume it "
                f"(`kubectl perpdex resume {self.name}`), then flatten it again"
            )
        if original != CLOSE_POSITIONS:
            before = self._pod_uid()
            self.say(f"setting onStop: {CLOSE_POSITIONS} (was {original or 'the default'}); the bot's pod restarts")
            patch_spec(self.kubectl, self.namespace, self.name, {"onStop": CLOSE_POSITIONS})
            bot = self._wait(
                deadline, "the bot to restart with onStop closePositions", lambda b: self._restarted(b, before)
            )
        self.say("pausing: the bot closes its positions and stops")
        patch_spec(self.kubectl, self.namespace, self.name, {"paused": True})
        bot = self._wait(deadline, "the bot to close its positions and stop", self._flat_and_stopped)
        if original != CLOSE_POSITIONS:
            bot = patch_spec(self.kubectl, self.namespace, self.name, {"onStop": original})
            self.say(f"onStop back to {original or 'the default'}")
        self.say(f"{self.name} is flat and paused (realized PnL {d.decimal(bot.status.realized_pnl)})")
        return bot

    def _pod_uid(self) -> str | None:
        try:
            uid = (self.kubectl.json(["get", "pod", f"{self.name}-0", "-n", self.namespace]).get("metadata") or {}).get(
                "uid"
            )
        except NotFound:
            return None
        return str(uid) if uid else None

    def _restarted(self, bot: TradingBot, before: str | None) -> bool:
        uid = self._pod_uid()
        return uid is not None and uid != before and bot.status.phase == "Running"

    def _flat_and_stopped(self, bot: TradingBot) -> bool:
        return bot.status.phase in STOPPED_PHASES and is_flat(bot) and self._pod_uid() is None

    def _wait(self, deadline: float, what: str, done: Callable[[TradingBot], bool]) -> TradingBot:
        shown = ""
        while True:
            bot = load_bot(self.kubectl, self.namespace, self.name)
            if done(bot):
                return bot
            now_left = what_is_left(bot)
            if now_left != shown:
                self.say(f"  {now_left}")
                shown = now_left
            if time.monotonic() >= deadline:
                raise FlattenIncomplete(
                    f"timed out after {self.timeout:.0f}s waiting for {what}; left: {now_left}. The bot keeps "
                    f"onStop {CLOSE_POSITIONS}; run flatten again to finish"
                )
            self.sleep(POLL_S)
