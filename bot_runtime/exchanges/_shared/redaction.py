"""Keeping secrets out of logs that venue SDKs write (some log request payloads, API keys or session cookies).

:class:`SecretRedactingFilter` replaces known secret values - and whatever the venue's ``patterns`` match (a session
cookie the SDK obtained at run time) - with ``***`` in every record it sees. Attach it with
:func:`install_redaction` to the SDK's loggers *and* the root logger: some SDKs call ``logging.info`` directly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"


class SecretRedactingFilter(logging.Filter):
    """Scrub known secret values and ``patterns`` (each with one group: the text kept before the secret)."""

    def __init__(
        self, secrets: Iterable[str], *, patterns: Iterable[re.Pattern[str]] = (), min_length: int = 6
    ) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= min_length}, key=len, reverse=True)
        self._patterns = tuple(patterns)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in self._patterns:
            text = pattern.sub(rf"\g<1>{MASK}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets and not self._patterns:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop it rather than risk a leak
            return False
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def install_redaction(flt: logging.Filter, logger_names: Iterable[str]) -> None:
    """Attach ``flt`` to the named loggers and to the root logger."""
    for name in (*logger_names, ""):
        logging.getLogger(name).addFilter(flt)


def remove_redaction(flt: logging.Filter, logger_names: Iterable[str]) -> None:
    for name in (*logger_names, ""):
        logging.getLogger(name).removeFilter(flt)


def quiet_loggers(names: Iterable[str], level: int = logging.WARNING) -> None:
    """SDKs that log every request at INFO (payloads, cookies): raise their threshold."""
    for name in names:
        logging.getLogger(name).setLevel(level)
