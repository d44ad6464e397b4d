"""``perpdex collect --config FILE``: the process every FundingCollector pod runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from bot_runtime.collector.collector import Collector
from bot_runtime.collector.config import CollectorConfig, load_collector_config
from bot_runtime.collector.metrics import CollectorMetrics
from bot_runtime.collector.status import CollectorStatus, KubeCollectorStatusSink, report_status
from bot_runtime.config import ConfigError
from bot_runtime.exchanges.registry import create_funding_source
from bot_runtime.http import Check, HealthServer
from bot_runtime.kube import KubeClient, KubeConfig
from bot_runtime.logs import setup_logging
from bot_runtime.status import StatusReporter

log = logging.getLogger("perpdex.collect")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpdex collect", description=__doc__)
    p.add_argument("--config", required=True, help="FundingCollector manifest or the rendered config.yaml")
    p.add_argument("--metrics-port", type=int, default=8080, help="/healthz /readyz /metrics (0 = any free port)")
    p.add_argument(
        "--funding-service-url",
        default=os.environ.get("PERPDEX_FUNDING_SERVICE_URL"),
        help="overrides the config's fundingServiceUrl",
    )
    p.add_argument("--once", action="store_true", help="run one cycle, deliver it, and exit (non-zero if undelivered)")
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=float(os.environ.get("PERPDEX_GRACE_SECONDS", "25")),
        help="on SIGTERM, how long the cycle in progress may take before it is abandoned",
    )
    p.add_argument("--log-level", default=os.environ.get("PERPDEX_LOG_LEVEL", "INFO"))
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging(level=args.log_level.upper())
    try:
        config = load_collector_config(args.config)
    except ConfigError as exc:
        print(f"perpdex collect: {exc}", file=sys.stderr)
        return 2
    url = args.funding_service_url or config.funding_service_url
    if not url:
        print(
            "perpdex collect: no funding service URL (config fundingServiceUrl or --funding-service-url)",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_run(config, url, args))


async def _run(config: CollectorConfig, url: str, args: argparse.Namespace) -> int:
    from bot_runtime.funding_api.client import FundingServiceClient

    sources = {name: create_funding_source(name, config.exchange_options.get(name, {})) for name in config.exchanges}
    metrics = CollectorMetrics()
    client = FundingServiceClient(url, token=os.environ.get("PERPDEX_INGEST_TOKEN"))
    collector = Collector(
        sources,
        client.ingest,
        interval=config.interval,
        timeout=config.timeout,
        symbols=config.symbols,
        buffer_cycles=config.buffer_cycles,
    )
    metrics.attach(collector)
    kube, reporter = await _status_reporter(config, metrics)
    if reporter is not None:
        report_status(collector, reporter)
        reporter.start()

    started = time.monotonic()

    def liveness() -> Check:
        last = collector.last_cycle
        budget = 3 * config.interval + config.timeout + 30
        age = time.monotonic() - started if last is None else time.time() - last.started_at.timestamp()
        return Check(age < budget, () if age < budget else (f"no cycle for {age:.0f}s",))

    def readiness() -> Check:
        if collector.last_cycle is None:
            return Check(False, ("first cycle not done",))
        return Check(
            collector.service_reachable, () if collector.service_reachable else ("funding service unreachable",)
        )

    server = HealthServer(port=args.metrics_port, liveness=liveness, readiness=readiness, metrics=metrics.render)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    rc = 0
    try:
        if args.once:
            await collector.cycle()
            rc = 0 if not collector.outbox else 1
        else:
            task = asyncio.create_task(collector.run(stopping))
            await stopping.wait()
            log.info(
                "stopping: finishing the cycle in progress and delivering what is pending",
                extra={"grace_s": args.grace_seconds, "pending": len(collector.outbox)},
            )
            try:
                await asyncio.wait_for(asyncio.shield(task), args.grace_seconds)
            except TimeoutError:
                log.warning("cycle abandoned at the end of the grace period")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        if reporter is not None:
            await reporter.flush(CollectorStatus.of(collector, "Stopped"), within_s=5)
        if kube is not None:
            await kube.close()
        await server.stop()
        await collector.close()
        await client.close()
        if collector.outbox:
            log.warning("exiting with undelivered cycles", extra={"pending": len(collector.outbox)})
    return rc


async def _status_reporter(
    config: CollectorConfig, metrics: CollectorMetrics
) -> tuple[KubeClient | None, StatusReporter[CollectorStatus] | None]:
    name = os.environ.get("PERPDEX_COLLECTOR_NAME")
    incluster = KubeConfig.in_cluster_or_none()
    if not name or incluster is None:
        return None, None
    namespace = os.environ.get("PERPDEX_NAMESPACE") or config.namespace or incluster.namespace
    kube = KubeClient(incluster)
    sink = KubeCollectorStatusSink(kube, namespace, name)
    return kube, StatusReporter(sink, min_interval=5.0, on_result=metrics.status_write)
