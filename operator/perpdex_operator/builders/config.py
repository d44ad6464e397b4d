"""The rendered runtime config (the ConfigMap's ``config.yaml``): the CR's spec validated by the runtime's own model,
plus the runtime-only fields (name, namespace, funding service URL). Secret names only, never values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from bot_runtime.config import ConfigError, dump_config, parse_config
from perpdex_operator.builders import BuildError

# spec fields that shape the pod, not the bot: leaving them out keeps e.g. a pause from rolling the pod
_POD_ONLY_BOT_FIELDS = ("paused", "image", "resources", "paperExchange")
_POD_ONLY_COLLECTOR_FIELDS = ("fundingService", "image", "resources", "paperExchange")  # paperExchange: an env var


def to_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=True, default_flow_style=False, allow_unicode=True)


def bot_config(owner: Mapping[str, Any], funding_service_url: str) -> dict[str, Any]:
    """The bot's config as a JSON-ready mapping that ``bot_runtime.config.load_config`` accepts."""
    meta = owner["metadata"]
    spec = dict(owner.get("spec") or {})
    body = {
        **{k: v for k, v in spec.items() if k not in _POD_ONLY_BOT_FIELDS},
        "name": meta["name"],
        "namespace": meta["namespace"],
        "fundingServiceUrl": funding_service_url,
    }
    try:
        rendered = dump_config(parse_config(body))
    except ConfigError as exc:
        raise BuildError(str(exc)) from None
    for key in _POD_ONLY_BOT_FIELDS:
        rendered.pop(key, None)
    return rendered


def collector_config(owner: Mapping[str, Any], default_funding_service_url: str) -> dict[str, Any]:
    meta = owner["metadata"]
    spec = dict(owner.get("spec") or {})
    exchanges = spec.get("exchanges") or []
    if not exchanges:
        raise BuildError("spec.exchanges: at least one exchange is required")
    url = (spec.get("fundingService") or {}).get("url") or default_funding_service_url
    return {
        **{k: v for k, v in spec.items() if k not in _POD_ONLY_COLLECTOR_FIELDS},
        "name": meta["name"],
        "namespace": meta["namespace"],
        "fundingServiceUrl": url,
    }
