"""kopf peering for several operator replicas: only the highest-priority live peer acts.

kopf pauses ALL peers that share the top priority, so replicas of one Deployment must not share it: unless
``--priority`` is given, a replica's priority is derived from its start time (an earlier start ranks higher, so a
newly started replica never takes over from a healthy one) with a random tie-breaker.
"""

from __future__ import annotations

import logging
import random
import time

import httpx

from bot_runtime.kube import ApiError, Conflict, KubeClient, resource_path

log = logging.getLogger(__name__)
PEERING_API = "kopf.dev/v1"
_EPOCH_CEILING = 4_000_000_000  # seconds; any start before year 2096 gives a positive priority


def auto_priority(now: float | None = None, rng: random.Random | None = None) -> int:
    started = int(time.time() if now is None else now)
    tie_breaker = (rng or random.SystemRandom()).randrange(1000)
    return (_EPOCH_CEILING - started) * 1000 + tie_breaker


async def ensure_peering_objects(kube: KubeClient, name: str, *, clusterwide: bool, namespaces: list[str]) -> None:
    """Create the (Cluster)KopfPeering object(s) kopf keeps its peers in, when missing (the chart creates them too;
    without them kopf's keep-alives go nowhere and peering silently does nothing)."""
    targets = [None] if clusterwide else list(namespaces)
    for namespace in targets:
        kind = "ClusterKopfPeering" if namespace is None else "KopfPeering"
        plural = "clusterkopfpeerings" if namespace is None else "kopfpeerings"
        metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
        body = {"apiVersion": PEERING_API, "kind": kind, "metadata": metadata}
        try:
            await kube.create(resource_path(PEERING_API, plural, namespace), body)
            log.info("created %s %s", kind, name)
        except Conflict:
            pass
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("could not ensure %s %s (%s); kopf peering needs it to exist", kind, name, exc)
