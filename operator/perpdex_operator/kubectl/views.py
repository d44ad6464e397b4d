"""``list`` and ``describe``: what the bots and collectors are doing, read from their status (nothing else).

``list`` prints one row per TradingBot (strategy, venues, phase, position, realized / unrealized / funding PnL,
heartbeat age, halt reason) and one row per FundingCollector venue (health of each venue the collector reads);
``-o json|yaml`` prints the same rows as data at full precision. ``describe`` puts one bot on one screen: its figures,
conditions, funding-arb legs, last error, its pod and the latest Events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

from perpdex_operator.kubectl import display as d
from perpdex_operator.kubectl.kube import COLLECTORS, TRADINGBOTS, Kubectl, KubectlError, NotFound
from perpdex_operator.kubectl.models import FundingCollector, TradingBot, items

OutputFormat = Literal["table", "json", "yaml"]
EVENTS_SHOWN = 8


@dataclass(frozen=True)
class Scope:
    """Which namespace(s): ``namespace`` None means every namespace."""

    namespace: str | None

    def flags(self) -> list[str]:
        return ["-n", self.namespace] if self.namespace else ["--all-namespaces"]


def load_bots(kubectl: Kubectl, scope: Scope) -> list[TradingBot]:
    bots = [TradingBot.model_validate(i) for i in items(kubectl.json(["get", TRADINGBOTS, *scope.flags()]))]
    return sorted(bots, key=lambda b: (b.metadata.namespace, b.metadata.name))


def load_collectors(kubectl: Kubectl, scope: Scope) -> list[FundingCollector]:
    found = items(kubectl.json(["get", COLLECTORS, *scope.flags()]))
    collectors = [FundingCollector.model_validate(i) for i in found]
    return sorted(collectors, key=lambda c: (c.metadata.namespace, c.metadata.name))


def load_bot(kubectl: Kubectl, namespace: str, name: str) -> TradingBot:
    try:
        return TradingBot.model_validate(kubectl.json(["get", TRADINGBOTS, name, "-n", namespace]))
    except NotFound as exc:
        raise NotFound(f"tradingbot {name!r} not found in namespace {namespace!r}") from exc


# list ------------------------------------------------------------------------------------------------------------------
def bot_row(bot: TradingBot, now: datetime) -> dict[str, Any]:
    s = bot.status
    return {
        "namespace": bot.metadata.namespace,
        "name": bot.metadata.name,
        "strategy": bot.spec.strategy,
        "venues": bot.spec.venues(),
        "phase": s.phase or ("Paused" if bot.spec.paused else "Pending"),
        "position": _plain(s.position),
        "realizedPnl": _plain(s.realized_pnl),
        "unrealizedPnl": _plain(s.unrealized_pnl),
        "fundingPnl": _plain(s.funding_pnl),
        "lastHeartbeat": s.last_heartbeat.isoformat() if s.last_heartbeat else None,
        "heartbeatAgeSeconds": int((now - s.last_heartbeat).total_seconds()) if s.last_heartbeat else None,
        "haltReason": bot.halt_reason(),
        "legs": len(s.legs),
    }


def venue_rows(collector: FundingCollector, now: datetime) -> list[dict[str, Any]]:
    seen = {v.name: v for v in collector.status.exchanges}
    names = list(dict.fromkeys([*collector.spec.exchanges, *seen]))
    rows = []
    for name in names:
        v = seen.get(name)
        rows.append(
            {
                "namespace": collector.metadata.namespace,
                "collector": collector.metadata.name,
                "phase": collector.status.phase,
                "venue": name,
                "health": _venue_health(v is not None and v.last_error is None, v is not None),
                "markets": v.markets if v else None,
                "lastSuccess": v.last_success.isoformat() if v and v.last_success else None,
                "lastSuccessAgeSeconds": int((now - v.last_success).total_seconds()) if v and v.last_success else None,
                "latencyMs": v.latency_ms if v else None,
                "lastError": v.last_error if v else None,
            }
        )
    return rows


def _venue_health(ok: bool, reported: bool) -> str:
    return "ok" if ok else ("failing" if reported else "no data")


def _plain(value: object) -> str | None:
    return None if value is None else str(value)


def render_list(
    bots: list[TradingBot], collectors: list[FundingCollector], output: OutputFormat, now: datetime | None = None
) -> str:
    now = now or datetime.now(UTC)
    if output != "table":
        data = {
            "tradingBots": [bot_row(b, now) for b in bots],
            "fundingCollectors": [r for c in collectors for r in venue_rows(c, now)],
        }
        if output == "json":
            return json.dumps(data, indent=2)
        return yaml.safe_dump(data, sort_keys=False).rstrip()
    parts = []
    if bots:
        parts.append(
            d.table(
                [
                    "namespace",
                    "name",
                    "strategy",
                    "venues",
                    "phase",
                    "position",
                    "realized",
                    "unrealized",
                    "funding",
                    "heartbeat",
                    "halt",
                ],
                [
                    [
                        b.metadata.namespace,
                        b.metadata.name,
                        b.spec.strategy,
                        ",".join(b.spec.venues()) or d.NONE,
                        bot_row(b, now)["phase"],
                        d.size(b.status.position),
                        d.decimal(b.status.realized_pnl),
                        d.decimal(b.status.unrealized_pnl),
                        d.decimal(b.status.funding_pnl),
                        d.age(b.status.last_heartbeat, now),
                        d.clip(b.halt_reason(), 40),
                    ]
                    for b in bots
                ],
            )
        )
    else:
        parts.append("No TradingBots found.")
    venue_lines = [r for c in collectors for r in venue_rows(c, now)]
    if venue_lines:
        parts.append(
            d.table(
                ["namespace", "collector", "phase", "venue", "health", "markets", "last success", "latency", "error"],
                [
                    [
                        r["namespace"],
                        r["collector"],
                        r["phase"] or "Pending",
                        r["venue"],
                        r["health"],
                        d.NONE if r["markets"] is None else str(r["markets"]),
                        d.age(_parse_time(r["lastSuccess"] or ""), now),
                        d.NONE if r["latencyMs"] is None else f"{r['latencyMs']}ms",
                        d.clip(r["lastError"], 40),
                    ]
                    for r in venue_lines
                ],
            )
        )
    elif collectors:
        parts.append("FundingCollectors have not reported yet.")
    else:
        parts.append("No FundingCollectors found.")
    return "\n\n".join(parts)


# describe --------------------------------------------------------------------------------------------------------------
def render_describe(kubectl: Kubectl, bot: TradingBot, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    s, spec, meta = bot.status, bot.spec, bot.metadata
    venues = ",".join(spec.venues()) or d.NONE
    what = f"{spec.strategy} on {venues}" + (f" ({spec.ticker})" if spec.ticker else "")
    entry = f" @ {d.decimal(s.avg_entry_price)}" if s.avg_entry_price is not None else ""
    lines = [
        f"Name:          {meta.name}",
        f"Namespace:     {meta.namespace}",
        f"Strategy:      {what}",
        f"Phase:         {s.phase or 'Pending'}   (spec.paused: {str(spec.paused).lower()}, "
        f"onStop: {spec.on_stop or 'default'})",
        f"Position:      {d.size(s.position)}{entry}",
        f"PnL (USD):     realized {d.decimal(s.realized_pnl)}   unrealized {d.decimal(s.unrealized_pnl)}   "
        f"funding {d.decimal(s.funding_pnl)}",
        f"Open orders:   {d.NONE if s.open_orders is None else s.open_orders}",
        f"Heartbeat:     {d.age(s.last_heartbeat, now)} ago" if s.last_heartbeat else "Heartbeat:     never",
        f"Halt:          {bot.halt_reason() or d.NONE}",
        f"Last error:    {d.clip(s.last_error, 100)}",
        f"Pod:           {_pod_line(kubectl, meta.namespace, meta.name)}",
        "",
        "Conditions:",
    ]
    if s.conditions:
        cond_table = d.table(
            ["type", "status", "reason", "age", "message"],
            [
                [c.type, c.status, c.reason or d.NONE, d.age(c.last_transition_time, now), d.clip(c.message, 70)]
                for c in s.conditions
            ],
        )
        lines += ["  " + line for line in cond_table.splitlines()]
    else:
        lines.append("  none yet (the operator has not reconciled the bot)")
    if spec.strategy == "fundingArb":
        lines += ["", "Funding-arb legs:"]
        if s.legs:
            legs = d.table(
                ["symbol", "long", "short", "size", "entry apr", "net apr", "funding pnl", "held"],
                [
                    [
                        leg.symbol,
                        leg.long_exchange,
                        leg.short_exchange,
                        d.size(leg.size),
                        d.percent(leg.entry_spread_apr),
                        d.percent(leg.current_net_apr),
                        d.decimal(leg.funding_pnl),
                        d.age(leg.opened_at, now),
                    ]
                    for leg in s.legs
                ],
            )
            lines += ["  " + line for line in legs.splitlines()]
        else:
            lines.append("  no open pairs")
    lines += ["", "Events:"]
    lines += ["  " + line for line in _events(kubectl, meta.namespace, meta.name, now).splitlines()]
    return "\n".join(lines)


def _pod_line(kubectl: Kubectl, namespace: str, bot: str) -> str:
    pod_name = f"{bot}-0"  # the bot's StatefulSet has one replica
    try:
        pod = kubectl.json(["get", "pod", pod_name, "-n", namespace])
    except NotFound:
        return "none (paused, stopped, or not scheduled yet)"
    except KubectlError as exc:
        return f"unknown ({exc})"
    status = pod.get("status") or {}
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown")
    return f"{pod_name} {status.get('phase', 'Unknown')}, ready {ready}, restarts {restarts}"


def _events(kubectl: Kubectl, namespace: str, bot: str, now: datetime) -> str:
    try:
        found = items(
            kubectl.json(
                [
                    "get",
                    "events",
                    "-n",
                    namespace,
                    f"--field-selector=involvedObject.name={bot},involvedObject.kind=TradingBot",
                ]
            )
        )
    except KubectlError as exc:
        return f"cannot read events: {exc}"
    if not found:
        return "none"

    def when(e: dict[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("metadata", {}).get("creationTimestamp", ""))

    latest = sorted(found, key=when)[-EVENTS_SHOWN:]
    return d.table(
        ["age", "type", "reason", "message"],
        [
            [
                d.age(_parse_time(when(e)), now),
                str(e.get("type", "")),
                str(e.get("reason", "")),
                d.clip(str(e.get("message", "")), 90),
            ]
            for e in latest
        ],
    )


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
