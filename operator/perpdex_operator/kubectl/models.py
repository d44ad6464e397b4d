"""What the plugin reads of the perp-dex resources: pydantic views of the CRs' JSON (unknown fields ignored, so a
newer operator's status never breaks an older plugin). Field names follow the CRDs (crds/*.yaml)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Meta(_View):
    name: str
    namespace: str = "default"
    generation: int | None = None
    creation_timestamp: datetime | None = Field(None, alias="creationTimestamp")


class Condition(_View):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = Field(None, alias="lastTransitionTime")


class FundingArbSpec(_View):
    exchanges: list[str] = Field(default_factory=list)


class BotSpec(_View):
    strategy: str
    exchange: str | None = None
    ticker: str | None = None
    paused: bool = False
    on_stop: str | None = Field(None, alias="onStop")
    funding_arb: FundingArbSpec | None = Field(None, alias="fundingArb")

    def venues(self) -> list[str]:
        if self.funding_arb is not None and self.funding_arb.exchanges:
            return list(self.funding_arb.exchanges)
        return [self.exchange] if self.exchange else []


class Leg(_View):
    symbol: str
    long_exchange: str = Field(alias="longExchange")
    short_exchange: str = Field(alias="shortExchange")
    size: Decimal | None = None
    entry_spread_apr: Decimal | None = Field(None, alias="entrySpreadApr")
    current_net_apr: Decimal | None = Field(None, alias="currentNetApr")
    funding_pnl: Decimal | None = Field(None, alias="fundingPnl")
    opened_at: datetime | None = Field(None, alias="openedAt")


class RiskHalt(_View):
    limit: str | None = None
    message: str | None = None
    action: str | None = None
    at: datetime | None = None


class BotStatus(_View):
    phase: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    position: Decimal | None = None
    avg_entry_price: Decimal | None = Field(None, alias="avgEntryPrice")
    realized_pnl: Decimal | None = Field(None, alias="realizedPnl")
    unrealized_pnl: Decimal | None = Field(None, alias="unrealizedPnl")
    funding_pnl: Decimal | None = Field(None, alias="fundingPnl")
    open_orders: int | None = Field(None, alias="openOrders")
    last_heartbeat: datetime | None = Field(None, alias="lastHeartbeat")
    last_error: str | None = Field(None, alias="lastError")
    legs: list[Leg] = Field(default_factory=list)
    risk_halt: RiskHalt | None = Field(None, alias="riskHalt")


class TradingBot(_View):
    metadata: Meta
    spec: BotSpec
    status: BotStatus = Field(default_factory=BotStatus)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == kind), None)

    def halt_reason(self) -> str | None:
        halt = self.status.risk_halt
        if halt is not None and (halt.limit or halt.message):
            return f"{halt.limit or 'risk'}: {halt.message or ''}".strip(": ")
        breached = self.condition("RiskLimitBreached")
        if breached is not None and breached.status == "True":
            return breached.message or breached.reason
        return None


class VenueHealth(_View):
    name: str
    last_success: datetime | None = Field(None, alias="lastSuccess")
    markets: int | None = None
    last_error: str | None = Field(None, alias="lastError")
    latency_ms: int | None = Field(None, alias="latencyMs")


class LastCycle(_View):
    started_at: datetime | None = Field(None, alias="startedAt")
    duration_ms: int | None = Field(None, alias="durationMs")
    rates_ingested: int | None = Field(None, alias="ratesIngested")


class CollectorStatus(_View):
    phase: str | None = None
    last_cycle: LastCycle | None = Field(None, alias="lastCycle")
    exchanges: list[VenueHealth] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


class CollectorSpec(_View):
    exchanges: list[str] = Field(default_factory=list)


class FundingCollector(_View):
    metadata: Meta
    spec: CollectorSpec = Field(default_factory=CollectorSpec)
    status: CollectorStatus = Field(default_factory=CollectorStatus)


def items(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = doc.get("items") or []
    return found
