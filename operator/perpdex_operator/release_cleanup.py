"""``perpdex operator release-cleanup``: the Helm chart's ``pre-delete`` hook.

``helm uninstall`` deletes a release's objects together: the operator's Deployment, ServiceAccount and
ClusterRoleBinding along with the custom resources the chart created. A FundingCollector then keeps its finalizer
forever (nobody is left to release it), its children stay, and a later install silently adopts the half-deleted
object. Run as a hook Job *before* Helm deletes anything, while the operator still runs, this deletes the release's
TradingBots and FundingCollectors (those carrying ``--selector``, the chart's instance labels) and waits until they
are gone, i.e. until the operator has stopped their pods and released their finalizers.

Exit 0 when none is left; 1 after ``--timeout`` (Helm then fails the uninstall and keeps the release: look at the
operator, or run ``helm uninstall --no-hooks`` knowing what stays); 2 on bad arguments or no cluster access.
Users' own bots, which the chart did not create, are never selected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time

import httpx

from bot_runtime.kube import ApiError, ConfigError, KubeClient, KubeConfig, NotFound, resource_path
from perpdex_operator.constants import API_VERSION, COLLECTOR_PLURAL, TRADINGBOT_PLURAL

log = logging.getLogger("perpdex_operator.release_cleanup")

PLURALS = (TRADINGBOT_PLURAL, COLLECTOR_PLURAL)


async def _present(client: KubeClient, namespaces: list[str], selector: str) -> list[tuple[str, str, str]]:
    found = []
    for ns in namespaces:
        for plural in PLURALS:
            listed = await client.list(resource_path(API_VERSION, plural, ns), label_selector=selector)
            found += [(plural, ns, str(item["metadata"]["name"])) for item in listed.get("items") or []]
    return found


async def cleanup(client: KubeClient, namespaces: list[str], selector: str, wait_s: float, poll: float) -> list[str]:
    """Delete the selected resources and wait for them to be gone; returns what is still there after ``wait_s``."""
    for plural, ns, name in await _present(client, namespaces, selector):
        log.info("deleting %s %s/%s", plural, ns, name)
        with contextlib.suppress(NotFound):
            await client.delete(resource_path(API_VERSION, plural, ns, name))
    deadline = time.monotonic() + wait_s
    while True:
        left = await _present(client, namespaces, selector)
        if not left:
            return []
        if time.monotonic() >= deadline:
            return [f"{plural} {ns}/{name}" for plural, ns, name in left]
        await asyncio.sleep(poll)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="perpdex operator release-cleanup", description=__doc__.split("\n\n")[0])
    p.add_argument("--namespace", "-n", action="append", required=True, help="namespace to clean (repeatable)")
    p.add_argument("--selector", "-l", required=True, help="label selector of the release's resources")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for them to be gone (default 300)")
    p.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.selector.strip():
        print("perpdex operator release-cleanup: an empty --selector would select every bot", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = KubeConfig.load()
    except ConfigError as exc:
        print(f"perpdex operator release-cleanup: {exc}", file=sys.stderr)
        return 2

    async def run() -> list[str]:
        async with KubeClient(config) as client:
            return await cleanup(client, args.namespace, args.selector, args.timeout, args.poll)

    try:
        left = asyncio.run(run())
    except (ApiError, httpx.HTTPError) as exc:
        print(f"perpdex operator release-cleanup: the API server failed: {exc}", file=sys.stderr)
        return 2
    if left:
        print(
            f"perpdex operator release-cleanup: still present after {args.timeout:g}s (is the operator running?): "
            + ", ".join(left),
            file=sys.stderr,
        )
        return 1
    log.info("no resource of the release is left")
    return 0
