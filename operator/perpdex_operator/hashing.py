"""Stable content hashes of JSON-like data (key order and Decimal/str spelling never change a hash)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False)


def stable_hash(data: Any, length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:length]
