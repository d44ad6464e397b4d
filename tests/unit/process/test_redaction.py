"""Every credential value is masked wherever it appears in a log record: message, arguments, traceback, extras."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot_runtime.logs import MASK, RedactingHandler, SecretRedactor, credential_env_names, setup_logging

ENV = {
    "API_KEY_PRIVATE_KEY": "0xdeadbeefcafebabe0123456789abcdef",
    "LIGHTER_ACCOUNT_INDEX": "7",  # too short to be a secret: left alone
    "GRVT_API_KEY": "grvt-key-ABCDEFGH",
    "BACKPACK_SECRET_KEY": "bp/secret+key==",
    "TELEGRAM_BOT_TOKEN": "987654321:AAFakeTokenForTests_abcdefghijklmno",
    "LARK_TOKEN": "lark-hook-token-1234",
    "UNRELATED": "not-a-secret-value",
}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    setup_logging(level="DEBUG", json_lines=True, stream=out, redactor=SecretRedactor.from_env(ENV))
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, RedactingHandler):
            root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_credential_env_names_cover_every_venue_and_notification() -> None:
    names = credential_env_names()
    for key in (
        "API_KEY_PRIVATE_KEY",
        "GRVT_PRIVATE_KEY",
        "EDGEX_STARK_PRIVATE_KEY",
        "PARADEX_L2_PRIVATE_KEY",
        "BACKPACK_SECRET_KEY",
        "ASTER_SECRET_KEY",
        "TELEGRAM_BOT_TOKEN",
        "LARK_WEBHOOK_URL",
        "LARK_TOKEN",
    ):
        assert key in names


def test_message_args_extras_and_traceback_are_masked(stream: io.StringIO) -> None:
    log = logging.getLogger("t")
    log.info("signing with %s and %s", ENV["API_KEY_PRIVATE_KEY"], ENV["GRVT_API_KEY"])
    log.warning("request failed", extra={"headers": {"X-API-KEY": ENV["GRVT_API_KEY"]}, "account": "7"})
    try:
        raise RuntimeError(f"bad key {ENV['BACKPACK_SECRET_KEY']}")
    except RuntimeError:
        log.exception("venue error")
    log.info("keeps %s", ENV["UNRELATED"])
    text = stream.getvalue()
    for key in ("API_KEY_PRIVATE_KEY", "GRVT_API_KEY", "BACKPACK_SECRET_KEY", "TELEGRAM_BOT_TOKEN", "LARK_TOKEN"):
        assert ENV[key] not in text
    first, second, third, fourth = lines(stream)
    assert first["msg"] == f"signing with {MASK} and {MASK}"
    assert second["headers"] == {"X-API-KEY": MASK}
    assert second["account"] == "7"
    assert "RuntimeError: bad key ***" in str(third["exc"])
    assert fourth["msg"] == "keeps not-a-secret-value"


def test_secret_inside_a_longer_string_and_json_escaping(stream: io.StringIO) -> None:
    # a value with characters JSON escapes (/ + =) is masked before encoding
    logging.getLogger("t").error('payload {"secret": "%s"}', ENV["BACKPACK_SECRET_KEY"])
    [line] = lines(stream)
    assert line["msg"] == 'payload {"secret": "***"}'


def test_token_shaped_url_parts_are_masked_without_env() -> None:
    redactor = SecretRedactor()
    assert (
        # (a made-up token, assembled so that secret scanners do not mistake the file for a leak)
        redactor.redact("POST https://api.telegram.org/bot" + "111111" + ":AAAbbbCCCdddEEEfffGGGhhh/sendMessage 200")
        == "POST https://api.telegram.org/bot***/sendMessage 200"
    )
    assert (
        redactor.redact("https://open.larksuite.com/open-apis/bot/v2/hook/0a1b2c3d-4e5f?x=1")
        == "https://open.larksuite.com/open-apis/bot/v2/hook/***?x=1"
    )
    assert redactor.redact("token 222222:AAAbbbCCCdddEEEfffGGGhhh in text") == "token *** in text"


def test_human_format_is_masked_too() -> None:
    out = io.StringIO()
    setup_logging(level="INFO", json_lines=False, stream=out, redactor=SecretRedactor.from_env(ENV))
    try:
        logging.getLogger("t").info("key %s", ENV["GRVT_API_KEY"], extra={"k": ENV["LARK_TOKEN"]})
    finally:
        for handler in list(logging.getLogger().handlers):
            if isinstance(handler, RedactingHandler):
                logging.getLogger().removeHandler(handler)
    text = out.getvalue()
    assert "key ***" in text and "k=***" in text
    assert ENV["GRVT_API_KEY"] not in text and ENV["LARK_TOKEN"] not in text
    assert not text.startswith("{")  # human, not JSON


def test_secrets_learned_later_are_masked(stream: io.StringIO) -> None:
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if isinstance(h, RedactingHandler)]
    handler.redactor.add("late-secret-from-dotenv")
    logging.getLogger("t").info("x late-secret-from-dotenv y")
    assert lines(stream)[-1]["msg"] == "x *** y"


def test_the_ingest_token_jwts_and_bearer_credentials_are_masked() -> None:
    assert {"PERPDEX_INGEST_TOKEN", "PERPDEX_FS_INGEST_TOKEN"} <= set(credential_env_names())
    redactor = SecretRedactor.from_env({"PERPDEX_INGEST_TOKEN": "ingest-token-0123456789"})
    assert redactor.redact("POST /ingest with ingest-token-0123456789 failed") == "POST /ingest with *** failed"
    # a Paradex JWT (made up, assembled so that secret scanners do not take the file for a leak), wherever it shows
    jwt = (
        "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9" + "." + "eyJzdWIiOiIweDAxMjMiLCJleHAiOjE3MDAwMDAwMDB9" + "." + "c2ln_-Ab"
    )
    bare = SecretRedactor()
    assert bare.redact(f"websocket auth refused: {{'bearer': '{jwt}'}}") == "websocket auth refused: {'bearer': '***'}"
    assert bare.redact(f"token {jwt} expired") == "token *** expired"
    assert bare.redact("Authorization: Bearer opaque.Token_123") == "Authorization: Bearer ***"
    assert bare.redact('{"bearer":"opaqueToken123"}') == '{"bearer":"***"}'
    assert bare.redact("the bearer of news, version 1.2.3") == "the bearer of news, version 1.2.3"
