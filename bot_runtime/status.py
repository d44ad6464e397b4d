"""The bot's runtime status (to its TradingBot's ``status`` subresource, or stdout) and its Lease.

Who writes what on a TradingBot's status: the bot writes ONLY the runtime fields of :class:`BotStatus` (phase,
position, avgEntryPrice, realizedPnl, unrealizedPnl, fundingPnl, openOrders, lastHeartbeat, lastError, legs,
riskHalt, entriesBlocked, ...) with a JSON merge patch, which leaves every other field alone; the operator writes
``conditions`` and ``observedGeneration``, some of them derived from the bot's fields (``preflight`` → Preflight,
``entriesBlocked`` → EntriesBlocked).

``riskHalt`` (:class:`RiskHaltRecord`) is the breach that halted the bot and the ``metadata.generation`` of the
TradingBot at that moment. It outlives the process: a bot that starts while the record's generation is still the
current one stays halted (:func:`risk_halt_on_start`); a spec change (a new generation) clears it. The bot writes
the field only once it has read it at start (``risk_halt_checked``), so a status write can never erase a record the
process has not seen.

:class:`StatusReporter` never blocks trading: :meth:`StatusReporter.publish` stores the latest value and returns; a
separate task writes it at most every ``min_interval`` seconds (a change of :meth:`ReportedStatus.urgent_fields`, e.g.
the phase, at once), retrying with backoff. It is generic over what it reports (:class:`ReportedStatus`: the bot's
:class:`BotStatus`, the collector's ``CollectorStatus``) and its sink must take that same type, so mypy rejects a
collector status handed to a bot's sink or reporter. A writer task that dies of an unexpected error is logged with its
traceback, counted (``crashes``, ``on_result("crash")``) and restarted: the status never freezes silently.

:class:`LeaseElector` holds a ``coordination.k8s.io/v1`` Lease named after the bot, the way client-go's leader
election does: every update is guarded by ``resourceVersion``; another holder's lease is taken over only once it has
not changed for ``leaseDurationSeconds`` *as observed by our own clock* (so clock skew between pods cannot make two
holders); a holder that cannot renew within ``renew_deadline`` (< the duration) considers itself no longer leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any, Generic, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypeVar  # PEP 696 defaults (typing has them from 3.13)

from bot_runtime.kube import ApiError, Conflict, KubeClient, NotFound, resource_path
from bot_runtime.risk import RiskBaselines

log = logging.getLogger(__name__)

Phase = Literal["Pending", "Starting", "Running", "Paused", "Stopping", "Stopped", "RiskHalted", "Failed"]
GROUP_VERSION = "perpdex.io/v1alpha1"
LEASE_API = "coordination.k8s.io/v1"
FIELD_MANAGER = "perpdex-bot"
# PnL is reported to 1e-8 of the quote currency; positions and prices exactly
PNL_PLACES = Decimal("0.00000001")
MAX_DECIMAL_LEN = 40  # crds/tradingbots.yaml: status decimals are strings of at most 40 characters
MAX_ENTRY_BLOCKS = 50  # crds/tradingbots.yaml: status.entriesBlocked maxItems
_WIDE = Context(prec=100)  # quantizing never fails for lack of precision


def significant(value: Decimal | None, digits: int = 12) -> Decimal | None:
    """``value`` rounded to ``digits`` significant digits (an average of fills carries 28 otherwise)."""
    if value is None or value == 0:
        return value
    return value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1), context=_WIDE).normalize(_WIDE)


def decimal_str(value: Decimal | None, places: Decimal | None = None, *, max_len: int = MAX_DECIMAL_LEN) -> str | None:
    """Exact plain notation (never ``1E+1``), at most ``max_len`` characters (the CRD's limit): a value with more
    digits (an average entry price carries 28) loses decimal places, never integer digits."""
    if value is None:
        return None
    if places is not None:
        value = value.quantize(places)
    text = _plain(value)
    decimals = len(text.split(".")[1]) if "." in text else 0
    while len(text) > max_len and decimals > 0:
        decimals = max(0, decimals - (len(text) - max_len))
        text = _plain(value.quantize(Decimal(1).scaleb(-decimals), context=_WIDE))
    return text


# kubectl get tb shows status.display: the same figures rounded for people (the fields above keep full precision)
DISPLAY_USD = Decimal("0.01")
DISPLAY_SIZE = Decimal("0.000001")


def display_usd(value: Decimal | None) -> str | None:
    """A USD figure for ``kubectl get``: cents, always two decimals (``-0.10433333`` → ``-0.10``)."""
    if value is None:
        return None
    text = format(value.quantize(DISPLAY_USD, context=_WIDE), "f")
    return "0.00" if text == "-0.00" else text


def display_size(value: Decimal | None) -> str | None:
    """A position for ``kubectl get``: at most 6 decimals, no trailing zeros (``0.0400000001`` → ``0.04``)."""
    return None if value is None else _plain(value.quantize(DISPLAY_SIZE, context=_WIDE))


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(at: datetime) -> str:
    """Kubernetes MicroTime (Lease acquireTime/renewTime)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Leg(BaseModel):
    """One funding-arb pair (``status.legs[]``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    symbol: str
    long_exchange: str = Field(alias="longExchange")
    short_exchange: str = Field(alias="shortExchange")
    size: Decimal
    entry_spread_apr: Decimal | None = Field(default=None, alias="entrySpreadApr")
    current_net_apr: Decimal | None = Field(default=None, alias="currentNetApr")
    funding_pnl: Decimal | None = Field(default=None, alias="fundingPnl")
    opened_at: datetime | None = Field(default=None, alias="openedAt")

    def to_status(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "longExchange": self.long_exchange,
            "shortExchange": self.short_exchange,
            "size": decimal_str(self.size),
            # a spread over an interval carries 28 digits: 12 significant ones are more than any venue's precision
            "entrySpreadApr": decimal_str(significant(self.entry_spread_apr)),
            "currentNetApr": decimal_str(significant(self.current_net_apr)),
            "fundingPnl": decimal_str(self.funding_pnl, PNL_PLACES),
            "openedAt": rfc3339(self.opened_at) if self.opened_at is not None else None,
        }


def legs_on_start(tradingbot: Mapping[str, Any]) -> tuple[Leg, ...]:
    """``status.legs`` as the previous process wrote them (fundingArb restores its pairs' entry time and spread from
    them); an item that cannot be read is skipped with a warning: it only costs that pair its history."""
    raw = (tradingbot.get("status") or {}).get("legs")
    if not isinstance(raw, list):
        return ()
    legs: list[Leg] = []
    for item in raw:
        try:
            leg = Leg.model_validate(item)
        except ValidationError as exc:
            log.warning("status.legs item not readable: %s", exc.errors(include_url=False, include_input=False)[:3])
            continue
        if leg.opened_at is not None and leg.opened_at.tzinfo is None:
            leg = leg.model_copy(update={"opened_at": leg.opened_at.replace(tzinfo=UTC)})
        legs.append(leg)
    return tuple(legs)


class PreflightRecord(BaseModel):
    """``status.preflight``: the last preflight of this process (:mod:`bot_runtime.preflight`), before any order.
    The operator turns it into the ``Preflight`` condition (and so an Event per change)."""

    model_config = ConfigDict(frozen=True)

    passed: bool = Field(description="no check failed (warnings allowed)")
    message: str = Field(description="every check's outcome, per venue")
    at: datetime = Field(description="when the checks ran")

    def to_status(self) -> dict[str, Any]:
        return {"passed": self.passed, "message": self.message[:4000], "at": rfc3339(self.at)}


ENTRY_BLOCK_REASON = r"^[A-Z][A-Za-z0-9]*$"


class EntryBlock(BaseModel):
    """One item of ``status.entriesBlocked``: where the bot opens nothing new, and why (any strategy may report one;
    fundingArb reports a symbol on a pair of venues backing off or stopped after failed entries). The operator turns
    the list into the ``EntriesBlocked`` condition (and so an Event per change)."""

    model_config = ConfigDict(frozen=True)

    symbol: str = Field(description="the canonical symbol entries are blocked for")
    venues: tuple[str, ...] = Field(description="the venues it concerns (fundingArb: the pair of venues, sorted)")
    reason: str = Field(pattern=ENTRY_BLOCK_REASON, description="CamelCase, e.g. FailedEntriesStopped")
    message: str = Field(description="why, in words (never a secret)")
    since: datetime = Field(description="when the block began")
    until: datetime | None = Field(None, description="when entries may be tried again; None: until a restart")

    def to_status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "symbol": self.symbol[:20],
            "venues": [v[:32] for v in self.venues[:4]],
            "reason": self.reason[:64],
            "message": self.message[:1000],
            "since": rfc3339(self.since),
        }
        if self.until is not None:
            doc["until"] = rfc3339(self.until)
        return doc


class RiskHaltRecord(BaseModel):
    """``status.riskHalt``: why the bot is halted, and the TradingBot's ``metadata.generation`` when it halted."""

    model_config = ConfigDict(frozen=True)

    limit: str = Field(description="the breached limit (bot_runtime.risk.RiskLimit), e.g. maxPositionUsd")
    message: str = Field(description="what was observed against which threshold")
    action: str = Field(description="the action applied (bot_runtime.risk.RiskAction): pause, closeWorst, closeAll")
    at: datetime = Field(description="when the breach was detected")
    generation: int = Field(ge=0, description="metadata.generation of the TradingBot at the moment of the halt")

    def to_status(self) -> dict[str, Any]:
        return {
            "limit": self.limit[:64],
            "message": self.message[:1000],
            "action": self.action[:32],
            "at": rfc3339(self.at),
            "generation": self.generation,
        }

    @classmethod
    def from_status(cls, raw: Any) -> RiskHaltRecord | None:
        """The record as the CRD stores it; None when absent or unreadable (the CRD's schema makes that rare)."""
        if not isinstance(raw, Mapping):
            return None
        try:
            at = datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00"))
            return cls(
                limit=str(raw["limit"]),
                message=str(raw.get("message") or ""),
                action=str(raw["action"]),
                at=at if at.tzinfo else at.replace(tzinfo=UTC),
                generation=_generation(raw.get("generation")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _generation(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a generation: {value!r}")
    return value


class RiskHaltCheck(BaseModel):
    """What a starting bot learned from its TradingBot (:func:`risk_halt_on_start`)."""

    model_config = ConfigDict(frozen=True)

    generation: int = Field(description="the TradingBot's current metadata.generation")
    record: RiskHaltRecord | None = Field(None, description="status.riskHalt, when one is recorded (and readable)")
    holds: bool = Field(description="the record's generation is the current one: stay halted, place no orders")
    recorded: bool = Field(description="status.riskHalt is present (stale or not)")

    @property
    def stale(self) -> bool:
        """A record from an older generation: the user changed the spec since the halt; clear it and trade."""
        return self.recorded and not self.holds


def risk_halt_on_start(tradingbot: Mapping[str, Any]) -> RiskHaltCheck:
    """Decide from the TradingBot object (a GET of it) whether a recorded risk halt still holds.

    The record holds exactly when its ``generation`` equals the object's current ``metadata.generation``; any spec
    change since the halt (which bumps the generation) clears it. Raises ValueError when the object has no
    generation (never the case for an object the API server returns).
    """
    metadata = tradingbot.get("metadata") or {}
    generation = _generation(metadata.get("generation"))
    raw = (tradingbot.get("status") or {}).get("riskHalt")
    if raw is None:
        return RiskHaltCheck(generation=generation, holds=False, recorded=False)
    record = RiskHaltRecord.from_status(raw)
    raw_generation = raw.get("generation") if isinstance(raw, Mapping) else None
    holds = type(raw_generation) is int and raw_generation == generation
    if holds and record is None:  # fail closed: an unreadable record of the current generation still halts
        record = RiskHaltRecord(
            limit=str(raw.get("limit") or "unknown"),
            message=str(raw.get("message") or "status.riskHalt could not be read"),
            action=str(raw.get("action") or "unknown"),
            at=datetime.now(UTC),
            generation=generation,
        )
    return RiskHaltCheck(generation=generation, record=record, holds=holds, recorded=True)


class BotStatus(BaseModel):
    """The runtime fields the bot owns on its TradingBot's status."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    position: Decimal | None = None
    avg_entry_price: Decimal | None = None
    # net of fees, over every process of this TradingBot (each adds its own to what the last one wrote); None: not
    # known yet (a Kubernetes bot before it has read the previous value): the field is left alone
    realized_pnl: Decimal | None = None
    fees_paid: Decimal | None = None  # likewise (rebates subtract)
    unrealized_pnl: Decimal | None = None
    funding_pnl: Decimal | None = None
    open_orders: int | None = None
    last_heartbeat: datetime = Field(default_factory=lambda: datetime.now(UTC))
    last_error: str | None = None
    # None: not known yet (a Kubernetes bot before it has read status.legs at start): the field is left alone
    legs: tuple[Leg, ...] | None = ()
    risk_halt: RiskHaltRecord | None = None
    # True once the process has read status.riskHalt at start (Kubernetes): from then on "no record" is written as
    # null (clearing a stale record); before that, and outside Kubernetes, the field is left alone
    risk_halt_checked: bool = False
    preflight: PreflightRecord | None = None  # None: not run yet in this process (the field is left alone)
    # the risk limits' baselines (read back at the next start); None: none yet (the field is left alone)
    risk_baselines: RiskBaselines | None = None
    # size of a fill without its take-profit (the grid opens nothing until it is placed); None: none (cleared)
    uncovered: Decimal | None = None
    # the maxPositionUsd in force (the spec's, or the one derived from the grid); None: not known yet (left alone)
    position_cap_usd: Decimal | None = None
    # where entries are blocked and why (status.entriesBlocked, at most MAX_ENTRY_BLOCKS); None: the strategy does
    # not report it (the field is left alone); () clears it
    entries_blocked: tuple[EntryBlock, ...] | None = None

    def urgent_fields(self) -> tuple[Any, ...]:
        """A change of these is written at once (not held back by ``min_interval``)."""
        blocked = tuple((b.symbol, b.venues, b.reason) for b in self.entries_blocked or ())
        return self.phase, self.risk_halt, self.risk_halt_checked, self.preflight, self.uncovered, blocked

    def to_status(self) -> dict[str, Any]:
        """The ``status`` fields as the CRD stores them (decimals as strings; ``None`` clears a field)."""
        doc: dict[str, Any] = {
            "phase": self.phase,
            "position": decimal_str(self.position),
            "avgEntryPrice": decimal_str(significant(self.avg_entry_price)),
            "unrealizedPnl": decimal_str(self.unrealized_pnl, PNL_PLACES),
            "fundingPnl": decimal_str(self.funding_pnl, PNL_PLACES),
            "openOrders": self.open_orders,
            "lastHeartbeat": rfc3339(self.last_heartbeat),
            "lastError": self.last_error[:1000] if self.last_error else None,
            "display": {
                "position": display_size(self.position),
                "unrealizedPnl": display_usd(self.unrealized_pnl),
                "fundingPnl": display_usd(self.funding_pnl),
            },
        }
        if self.legs is not None:
            doc["legs"] = [leg.to_status() for leg in self.legs]
        if self.risk_halt is not None:
            doc["riskHalt"] = self.risk_halt.to_status()
        elif self.risk_halt_checked:
            doc["riskHalt"] = None
        if self.preflight is not None:
            doc["preflight"] = self.preflight.to_status()
        if self.risk_baselines is not None:
            doc["riskBaselines"] = self.risk_baselines.to_status()
        if self.realized_pnl is not None:
            doc["realizedPnl"] = decimal_str(self.realized_pnl, PNL_PLACES)
            doc["display"]["realizedPnl"] = display_usd(self.realized_pnl)
        if self.fees_paid is not None:
            doc["feesPaid"] = decimal_str(self.fees_paid, PNL_PLACES)
        doc["uncoveredFill"] = decimal_str(self.uncovered)
        if self.position_cap_usd is not None:
            doc["positionCapUsd"] = decimal_str(self.position_cap_usd, PNL_PLACES)
        if self.entries_blocked is not None:
            doc["entriesBlocked"] = [b.to_status() for b in self.entries_blocked[:MAX_ENTRY_BLOCKS]]
        return doc


# ---------------------------------------------------------------------------------------------------------------------
# sinks


class ReportedStatus(Protocol):
    """What a :class:`StatusReporter` publishes: a frozen value that renders its ``status`` fields."""

    def to_status(self) -> dict[str, Any]:
        """The status fields this process owns, as the CRD stores them (``None`` clears a field)."""
        ...

    def urgent_fields(self) -> tuple[Any, ...]:
        """A change of these is written at once, not held back by the reporter's ``min_interval``."""
        ...


# a bare ``StatusReporter`` is the bot's (``StatusReporter[BotStatus]``); the collector says ``[CollectorStatus]``
S = TypeVar("S", bound=ReportedStatus, default=BotStatus)
S_contra = TypeVar("S_contra", bound=ReportedStatus, contravariant=True)


class StatusSink(Protocol[S_contra]):
    async def write(self, status: S_contra, *, final: bool = False) -> None: ...


class LogStatusSink:
    """Outside Kubernetes: one ``status`` log line (stdout) per write, with the status fields as structured data."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("perpdex.status")

    async def write(self, status: ReportedStatus, *, final: bool = False) -> None:
        fields = {k: v for k, v in status.to_status().items() if v not in (None, [])}
        self._log.info("final status" if final else "status", extra={"status": fields, "final": final})


class KubeStatusSink:
    """Merge-patches ``/apis/perpdex.io/v1alpha1/namespaces/NS/tradingbots/NAME/status``."""

    def __init__(self, client: KubeClient, namespace: str, name: str) -> None:
        self._client = client
        self.path = resource_path(GROUP_VERSION, "tradingbots", namespace, name, "status")

    async def write(self, status: BotStatus, *, final: bool = False) -> None:
        await self._client.patch(self.path, {"status": status.to_status()}, patch_type="merge")


# ---------------------------------------------------------------------------------------------------------------------
# the reporter


class StatusReporter(Generic[S]):
    """Latest-value, rate-limited, retried status publishing on its own (supervised) task."""

    def __init__(
        self,
        sink: StatusSink[S],
        *,
        min_interval: float = 5.0,
        max_backoff: float = 30.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.min_interval = min_interval
        self.max_backoff = max_backoff
        self._on_result = on_result
        self._latest: S | None = None
        self._written: S | None = None
        self._last_write = float("-inf")
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.crashes = 0  # times the writer task died of an unexpected error (and was restarted)

    @property
    def last_written(self) -> S | None:
        return self._written

    def publish(self, status: S) -> None:
        """Store the newest status; never blocks, never raises."""
        self._latest = status
        self._changed.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="status-reporter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self, status: S, *, within_s: float = 10.0) -> bool:
        """Write ``status`` now (the final status), retrying for ``within_s`` seconds; returns whether it landed."""
        await self.stop()
        self._latest = status
        deadline = time.monotonic() + within_s
        delay = min(0.5, self.max_backoff)
        while True:
            if await self._write(status, final=True):
                return True
            if time.monotonic() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _write(self, status: S, *, final: bool = False) -> bool:
        try:
            await self.sink.write(status, final=final)
        except (ApiError, httpx.HTTPError, OSError) as exc:
            self.failures += 1
            self._result("error")
            level = logging.WARNING if self.failures <= 3 or self.failures % 20 == 0 else logging.DEBUG
            log.log(level, "status write failed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            return False
        self.failures = 0
        self._written = status
        self._last_write = time.monotonic()
        self._result("ok")
        return True

    def _result(self, result: str) -> None:
        if self._on_result is not None:
            with contextlib.suppress(Exception):
                self._on_result(result)

    async def _supervise(self) -> None:
        """Run the writer; if it dies of anything but a cancellation (a bug: a status that cannot be rendered, a sink
        raising an unexpected error), log it with its traceback, count it and start it again after a growing pause."""
        pause = min(1.0, self.max_backoff)
        while True:
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.crashes += 1
                self._result("crash")
                log.exception("status reporter crashed; restarting", extra={"crashes": self.crashes, "in_s": pause})
                self._changed.set()  # the latest value is still to be written
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.max_backoff)

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            await self._changed.wait()
            latest = self._latest
            if latest is None:
                self._changed.clear()
                continue
            urgent = self._written is None or latest.urgent_fields() != self._written.urgent_fields()
            wait = 0.0 if urgent else self._last_write + self.min_interval - time.monotonic()
            if wait > 0:
                # sleep out the interval, but wake for a newer value: it may be urgent (a phase or halt change)
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):  # unlike wait_for, never swallows a cancellation (stop())
                        await self._changed.wait()
                self._changed.set()  # the held-back value is still to be written
                continue  # picks up whatever is latest by then
            self._changed.clear()
            latest = self._latest or latest
            if await self._write(latest):
                backoff = 1.0
            else:
                self._changed.set()  # still to be written
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)


# ---------------------------------------------------------------------------------------------------------------------
# the Lease


class LeaseElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration: int = 15,
        renew_interval: float = 5.0,
        renew_deadline: float = 10.0,
        retry_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not renew_interval < renew_deadline < duration:
            raise ValueError("need renew_interval < renew_deadline < duration")
        self._client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_interval = renew_interval
        self.renew_deadline = renew_deadline
        self.retry_interval = retry_interval
        self._clock = clock
        self.path = resource_path(LEASE_API, "leases", namespace, name)
        self._collection = resource_path(LEASE_API, "leases", namespace)
        self._held = False
        self._last_renew = float("-inf")
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.holder: str | None = None

    @property
    def held(self) -> bool:
        """True while we hold the lease and renewed it within ``renew_deadline``."""
        return self._held and self._clock() - self._last_renew < self.renew_deadline

    def remaining(self) -> float:
        """Seconds before another instance could take the lease over, counted from our last successful renewal
        (0 when we do not hold it)."""
        if not self._held:
            return 0.0
        return max(0.0, self.duration - (self._clock() - self._last_renew))

    def _lease_body(self, spec: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Lease to PUT: the current object's metadata kept whole (the operator's ownerReferences and labels, and
        the resourceVersion that guards the update), only ``spec`` replaced."""
        if current is None:
            metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        else:
            metadata = dict(current.get("metadata") or {})
            metadata.pop("managedFields", None)
        return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata, "spec": spec}

    async def try_acquire_or_renew(self) -> bool:
        """One round: create, renew, or take over an expired lease. Returns whether we hold it now.

        Raises on API/network errors (callers decide how long to tolerate them).
        """
        now = datetime.now(UTC)
        try:
            lease = await self._client.get(self.path)
        except NotFound:
            fresh: dict[str, Any] = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration,
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            }
            try:
                await self._client.create(self._collection, self._lease_body(fresh))
            except Conflict:
                return self._set_held(False, None)  # someone created it first
            return self._set_held(True, self.identity)

        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder: str | None = spec.get("holderIdentity") or None
        record = (holder, spec.get("renewTime"), spec.get("acquireTime"), spec.get("leaseDurationSeconds"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        if holder is not None and holder != self.identity:
            lease_seconds = int(spec.get("leaseDurationSeconds") or self.duration)
            if self._clock() - self._observed_at < lease_seconds:
                return self._set_held(False, holder)
            log.info("lease expired, taking over", extra={"lease": self.name, "previous_holder": holder})
        taking_over = holder != self.identity
        new_spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration,
            "acquireTime": micro_time(now) if taking_over else spec.get("acquireTime", micro_time(now)),
            "renewTime": micro_time(now),
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and holder else 0),
        }
        try:
            await self._client.replace(self.path, self._lease_body(new_spec, lease))
        except Conflict:
            return self._set_held(False, holder)  # changed under us: look again next round
        return self._set_held(True, self.identity)

    def _set_held(self, held: bool, holder: str | None) -> bool:
        self.holder = holder
        if held:
            if not self._held:
                log.info("lease acquired", extra={"lease": self.name, "identity": self.identity})
            self._last_renew = self._clock()
        self._held = held
        return held

    async def acquire(self, stopping: asyncio.Event, on_wait: Callable[[str | None], None] | None = None) -> bool:
        """Block until we hold the lease (True) or ``stopping`` is set (False)."""
        announced: str | None = "\0"
        while not stopping.is_set():
            try:
                if await self.try_acquire_or_renew():
                    return True
            except (ApiError, httpx.HTTPError, OSError) as exc:
                log.warning("lease acquisition failed", extra={"lease": self.name, "error": str(exc)[:300]})
            if self.holder != announced:
                announced = self.holder
                log.info("waiting for the lease", extra={"lease": self.name, "holder": self.holder})
                if on_wait is not None:
                    on_wait(self.holder)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.retry_interval)
        return False

    async def keep(self, on_lost: Callable[[str], None]) -> None:
        """Renew every ``renew_interval`` while held; when it cannot be renewed (another holder, or no success within
        ``renew_deadline``) call ``on_lost(reason)`` once and return."""
        failing = False
        while True:
            await asyncio.sleep(1.0 if failing else self.renew_interval)
            budget = max(1.0, self.renew_deadline - (self._clock() - self._last_renew))
            try:
                still_ours = await asyncio.wait_for(self.try_acquire_or_renew(), budget)
                failing = False
                if not still_ours:
                    self._held = False
                    on_lost(f"lease taken by {self.holder!r}")
                    return
            except (ApiError, httpx.HTTPError, OSError, TimeoutError) as exc:
                failing = True
                log.warning("lease renewal failed", extra={"lease": self.name, "error": repr(exc)[:300]})
            if not self.held:
                self._held = False
                on_lost(f"lease not renewed within {self.renew_deadline:g}s")
                return

    async def release(self) -> None:
        """Give the lease up (only if we hold it) so a waiting instance takes over at once."""
        if not self._held:
            return
        self._held = False
        try:
            lease = await self._client.get(self.path)
            spec: dict[str, Any] = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != self.identity:
                return
            now = micro_time(datetime.now(UTC))
            released = {
                "leaseDurationSeconds": 1,
                "renewTime": now,
                "acquireTime": now,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0),
            }
            await self._client.replace(self.path, self._lease_body(released, lease))
            log.info("lease released", extra={"lease": self.name})
        except (ApiError, httpx.HTTPError, OSError) as exc:
            log.warning("lease release failed (it expires by itself)", extra={"error": str(exc)[:300]})
