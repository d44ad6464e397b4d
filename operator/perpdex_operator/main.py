"""``perpdex operator``: the kopf operator reconciling TradingBot and FundingCollector.

Flags override ``PERPDEX_OPERATOR_*`` env vars (e.g. ``PERPDEX_OPERATOR_NAMESPACES=a,b``,
``PERPDEX_OPERATOR_IMAGE``). The cluster connection is the in-cluster service account or ``$KUBECONFIG``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from typing import Any

import kopf
from pydantic import ValidationError

from bot_runtime.kube import ConfigError, KubeConfig
from perpdex_operator.handlers import build_registry
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.peering import auto_priority, ensure_peering_objects
from perpdex_operator.runtime import OperatorRuntime, kopf_settings
from perpdex_operator.settings import OperatorSettings

log = logging.getLogger("perpdex_operator")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perpdex operator",
        description="Reconcile TradingBot and FundingCollector custom resources into running pods.",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace", "-n", action="append", dest="namespaces", metavar="NS", help="watch NS (repeatable)"
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", default=None, help="watch every namespace")
    p.add_argument("--image", help="default runtime image of bot and collector pods")
    p.add_argument("--image-pull-policy", choices=["Always", "IfNotPresent", "Never"], help="of bot/collector pods")
    p.add_argument(
        "--image-pull-secret", dest="image_pull_secrets", action="append", help="of bot/collector pods (repeatable)"
    )
    p.add_argument("--funding-service-url", help="default funding service base URL for bots and collectors")
    p.add_argument("--paper-exchange-url", help="default paper exchange base URL for paper bots and collectors")
    p.add_argument("--ingest-token-secret", help="Secret (key `token`) holding the collectors' ingest token")
    ha = p.add_mutually_exclusive_group()
    ha.add_argument("--peering", metavar="NAME", help="kopf peering name: several replicas, one active")
    ha.add_argument("--standalone", action="store_true", default=None, help="no peering (a single replica)")
    p.add_argument("--priority", type=int, help="peering priority (default: an earlier start ranks higher)")
    p.add_argument("--liveness-port", type=int, help="port of /healthz (kopf liveness); 0 disables")
    p.add_argument("--metrics-port", type=int, help="port of /metrics; 0 disables")
    p.add_argument("--heartbeat-stale-seconds", type=float, help="heartbeat age that makes Ready=False")
    p.add_argument("--delete-timeout-seconds", type=float, help="how long deletion waits for the pod to stop")
    p.add_argument("--status-interval-seconds", type=float, help="how often conditions are re-derived")
    p.add_argument("--resync-interval-seconds", type=float, help="how often children are fully re-checked")
    p.add_argument("--retry-max-seconds", type=float, help="longest wait between retries of a failed reconcile")
    p.add_argument("--log-level", default=os.environ.get("PERPDEX_LOG_LEVEL", "INFO"), help="DEBUG, INFO, WARNING")
    return p


def settings_from_args(args: argparse.Namespace) -> OperatorSettings:
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k not in {"log_level", "namespaces", "all_namespaces"}
    }
    if args.namespaces:
        overrides |= {"namespaces": args.namespaces, "all_namespaces": False}
    elif args.all_namespaces:
        overrides |= {"namespaces": [], "all_namespaces": True}
    if args.standalone:
        overrides["peering"] = None
    elif args.peering:
        overrides["standalone"] = False
    return OperatorSettings(**overrides)


async def run_operator(
    settings: OperatorSettings,
    kube_config: KubeConfig,
    *,
    metrics: OperatorMetrics | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    serve_metrics: bool = True,
) -> None:
    """Run until ``stop_flag`` is set (or SIGTERM/SIGINT when on the main thread)."""
    priority = settings.priority if settings.priority is not None else auto_priority()
    rt = OperatorRuntime(settings, kube_config, metrics=metrics or OperatorMetrics(), priority=priority)
    registry = build_registry(rt)
    server = None
    if serve_metrics and settings.metrics_port:
        server, _ = rt.metrics.serve(settings.metrics_port, settings.metrics_host)
    try:
        if settings.peering:
            await ensure_peering_objects(
                rt.kube, settings.peering, clusterwide=settings.clusterwide, namespaces=settings.namespaces
            )
        liveness = (
            f"http://{settings.liveness_host}:{settings.liveness_port}/healthz" if settings.liveness_port else None
        )
        log.info(
            "operator starting",
            extra={
                "namespaces": settings.namespaces or "*",
                "peering": settings.peering or "standalone",
                "priority": priority,
            },
        )
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(settings, priority),
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            standalone=not settings.peering,
            priority=priority,
            peering_name=settings.peering,
            liveness_endpoint=liveness,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        await rt.close()


_ROUTINE = re.compile(r"^(Timer|Handler) '(status|resync|reported|child-[a-z]+)' succeeded\.$")


class _KopfNoise(logging.Filter):
    """kopf attaches its whole settings object to some records and logs every timer tick at INFO: drop both."""

    def filter(self, record: logging.LogRecord) -> bool:
        for attr in ("settings", "k8s_skip"):
            if hasattr(record, attr):
                delattr(record, attr)
        return not (record.name.startswith("kopf") and _ROUTINE.match(record.getMessage()))


def quiet_kopf(*, debug: bool) -> None:
    noise = _KopfNoise()
    for handler in logging.getLogger().handlers:
        handler.addFilter(noise)
    if not debug:
        logging.getLogger("kopf").setLevel(logging.INFO)
        logging.getLogger("kopf.activities.probe").setLevel(logging.WARNING)


def main(argv: list[str]) -> int:
    if argv[:1] == ["release-cleanup"]:  # the chart's pre-delete hook (perpdex_operator/release_cleanup.py)
        from perpdex_operator.release_cleanup import main as release_cleanup

        return release_cleanup(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            print(f"perpdex operator: {where + ': ' if where else ''}{err['msg']}", file=sys.stderr)
        return 2
    from bot_runtime.logs import setup_logging

    setup_logging(level=str(args.log_level).upper())
    quiet_kopf(debug=str(args.log_level).upper() == "DEBUG")
    try:
        kube_config = KubeConfig.load()
    except ConfigError as exc:
        print(f"perpdex operator: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_operator(settings, kube_config))
    except KeyboardInterrupt:
        return 130
    return 0
