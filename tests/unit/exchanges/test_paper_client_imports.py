"""A bot pod on a paper venue imports the paper exchange's client and wire models, never its service stack."""

from __future__ import annotations

import subprocess
import sys


def test_the_paper_client_imports_no_service_stack() -> None:
    code = (
        "import sys, bot_runtime.exchanges.registry as r;"
        "r.create_exchange('paper', {'baseUrl': 'http://paper-exchange:8100'}, {});"
        "r.create_funding_source('paper-a', {'baseUrl': 'http://paper-exchange:8100'});"
        "print(sorted({'fastapi', 'asyncpg', 'uvicorn', 'starlette'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_a_url_the_venue_is_simulated_in_process() -> None:
    from bot_runtime.exchanges.paper import PaperExchange, PaperServiceExchange
    from bot_runtime.exchanges.registry import create_exchange

    assert isinstance(create_exchange("paper-a", {}, {}), PaperExchange)
    client = create_exchange("paper-a", {}, {"PERPDEX_PAPER_EXCHANGE_URL": "http://px:8100/"})
    assert isinstance(client, PaperServiceExchange)
    assert (client.base_url, client.account) == ("http://px:8100", "local")
