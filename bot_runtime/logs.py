"""Structured logging for the bot process, with secret redaction.

- JSON lines when stdout is not a TTY (in a pod), a human format on a TTY.
- :class:`SecretRedactor` masks every credential value it knows (the venue env vars of
  :data:`bot_runtime.exchanges.registry.VENUES`, the notification env vars) wherever it appears: in the message, its
  arguments, exception tracebacks and ``extra`` fields; the funding service's ingest token too
  (:data:`SERVICE_TOKEN_ENV`). It also masks token-shaped substrings even when the token did not come from the
  environment: a Telegram ``/bot<token>/`` path, a Lark ``/hook/<token>``, any JWT (Paradex's, obtained at run time)
  and whatever follows ``Bearer`` or a ``bearer`` key.
- Notifications (title and body) go through the same redactor (:class:`bot_runtime.notify.NotificationDispatcher`).

Every handler :func:`setup_logging` installs carries the redaction filter, so a secret cannot leave the process
through the log even when a library logs it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot_runtime.exchanges.registry import NOTIFICATION_ENV, VENUES

MASK = "***"
# Values shorter than this are not masked: an account index "1" or an environment name "prod" is no secret, and
# masking every "1" would destroy the log. Every real key, token or private key is far longer.
MIN_SECRET_LENGTH = 6

# token-shaped substrings masked even when the value is not in the environment
_URL_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram Bot API: https://api.telegram.org/bot<bot id>:<secret>/sendMessage
    (re.compile(r"(/bot)[^/\s\"']+"), r"\1" + MASK),
    # a bare Telegram bot token: <bot id>:<35 chars>
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}"), MASK),
    # Lark / Feishu custom-bot webhook: .../open-apis/bot/v2/hook/<token>
    (re.compile(r"(/hook/)[^/\s\"'?]+"), r"\1" + MASK),
    # a JWT (header.payload.signature; the header is base64url JSON, so it starts with "eyJ"): Paradex's auth token
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # a bearer credential: "Authorization: Bearer <token>", {"bearer": "<token>"} (Paradex's websocket auth)
    (re.compile(r"(\b[Bb]earer[\"']?\s*[:=]?\s*[\"']?)[A-Za-z0-9._~+/-]{6,}=*"), r"\1" + MASK),
)

# the shared secrets of our own services: the collector's (and the funding service's) ingest token
SERVICE_TOKEN_ENV = ("PERPDEX_INGEST_TOKEN", "PERPDEX_FS_INGEST_TOKEN")

# LogRecord attributes that are not ``extra`` fields
_RESERVED = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime", "taskName"}
)


def credential_env_names() -> tuple[str, ...]:
    """Every env var name that may hold a credential: each venue's required and optional env, the notification env,
    the services' ingest token."""
    names: list[str] = list(SERVICE_TOKEN_ENV)
    for spec in VENUES.values():
        names += spec.required_env + spec.optional_env
    for keys in NOTIFICATION_ENV.values():
        names += keys
    return tuple(dict.fromkeys(names))


class SecretRedactor:
    """Replaces known secret values (and token-shaped URL parts) by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, extra_names: Iterable[str] = ()) -> SecretRedactor:
        env = os.environ if env is None else env
        names = (*credential_env_names(), *extra_names)
        return cls(env[name] for name in names if name in env)

    def add(self, *values: str) -> None:
        """Register more secret values (e.g. a token read from a config file)."""
        changed = False
        for raw in values:
            value = raw.strip()
            if len(value) >= MIN_SECRET_LENGTH and value not in self._secrets:
                self._secrets.add(value)
                changed = True
        if changed:
            # longest first, so a secret containing another is masked whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        for pattern, replacement in _URL_TOKEN_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """Redact strings inside JSON-like values (dicts, lists); other values pass unchanged."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


class RedactionFilter(logging.Filter):
    """Renders the message with its arguments and the traceback, redacted, before any formatter sees them."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor.redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
            record.exc_info = None  # the redacted text is what gets printed
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and not key.startswith("_"):
                setattr(record, key, self.redactor.redact_value(value))
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # Decimal stays exact as a string


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc."""

    def __init__(self, redactor: SecretRedactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            payload.setdefault(key, _jsonable(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if self.redactor is not None:
            payload = self.redactor.redact_value(payload)
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for a terminal."""

    def __init__(self, redactor: SecretRedactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = extra_fields(record)
        if extras:
            text += "  " + " ".join(f"{k}={_jsonable(v)}" for k, v in extras.items())
        return self.redactor.redact(text) if self.redactor is not None else text


class RedactingHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs on the root logger (and replaces when called again): every record
    redacted by ``redactor`` (:class:`RedactionFilter`), then formatted as JSON or for a terminal."""

    def __init__(self, stream: TextIO, redactor: SecretRedactor, *, json_lines: bool) -> None:
        super().__init__(stream)
        self.redactor = redactor
        self.addFilter(RedactionFilter(redactor))
        self.setFormatter(JsonFormatter(redactor) if json_lines else HumanFormatter(redactor))


def setup_logging(
    *,
    level: str | int = "INFO",
    json_lines: bool | None = None,
    stream: TextIO | None = None,
    redactor: SecretRedactor | None = None,
) -> SecretRedactor:
    """Configure the root logger (idempotent): one stdout handler, JSON unless the stream is a TTY, redacted.

    Returns the redactor so callers can register secrets they learn later (:meth:`SecretRedactor.add`).
    """
    stream = sys.stdout if stream is None else stream
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    redactor = SecretRedactor.from_env() if redactor is None else redactor
    handler = RedactingHandler(stream, redactor, json_lines=json_lines)
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, RedactingHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # chatty libraries: their request lines would carry URLs (redacted anyway) at INFO
    for name in ("httpx", "httpcore", "websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
