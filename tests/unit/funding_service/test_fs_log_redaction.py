"""The funding service's log (``perpdex funding-service``) is redacted: its ingest token, its database password and a
bearer token never reach stderr (a fresh interpreter: logging is configured once per process)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import logging
from funding_service.cli import setup_logging
setup_logging("info")
log = logging.getLogger("funding_service.api")
log.warning("rejected Authorization: Bearer %s", "fs-ingest-token-0123456789")
log.error("cannot connect as perpdex:%s", "db-Password-42")
log.info("kept")
"""


def test_the_ingest_token_and_the_database_password_are_masked() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_")}
    env |= {"PERPDEX_FS_INGEST_TOKEN": "fs-ingest-token-0123456789", "PERPDEX_FS_DB_PASSWORD": "db-Password-42"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "fs-ingest-token" not in out.stderr and "db-Password-42" not in out.stderr, out.stderr
    assert "Bearer ***" in out.stderr and "perpdex:***" in out.stderr and "kept" in out.stderr
