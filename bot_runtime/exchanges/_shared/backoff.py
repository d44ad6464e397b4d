"""Exponential backoff with jitter for reconnect loops."""

from __future__ import annotations

import random


class Backoff:
    """``initial * factor**n`` capped at ``maximum``, randomised by +-``jitter`` (a fraction; 0 = deterministic)."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0, jitter: float = 0.2) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._attempt = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        spread = base * self.jitter
        return max(0.0, base + random.uniform(-spread, spread))  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset."""
        return self._attempt
