"""``perpdex preflight`` end to end: the installed command against a replay venue (Aster's V1 keys from an env file),
its exit status, its report, and no credential value in what it prints."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

from bot_runtime.exchanges.base import Market
from bot_runtime.preflight.checks import PreflightRequest, _Run, _tick_size
from bot_runtime.preflight.report import Outcome
from tests.unit.preflight.venues import venue_rig

PERPDEX = str(Path(sys.executable).parent / "perpdex")


async def perpdex(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PERPDEX,
        "preflight",
        *args,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_preflight_command_passes_and_fails_with_the_right_status(tmp_path: Path) -> None:
    async with venue_rig("aster") as rig:
        env_file = tmp_path / "aster.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in rig.env.items()))
        options = [f"--option=baseUrl={rig.options['baseUrl']}", f"--option=wsUrl={rig.options['wsUrl']}"]
        common = ["--exchange", "aster", "--env-file", str(env_file), *options]
        code, out, err = await perpdex(
            *common, "--ticker", "BTC", "--quantity", "0.001", "--max-orders", "1", cwd=tmp_path
        )
        assert code == 0, out + err
        assert "PASS credentials" in out and "PASS quantity" in out and "result: OK" in out
        bad_code, bad_out, _ = await perpdex(*common, "--ticker", "NOSUCHCOIN", cwd=tmp_path)
        assert bad_code == 1 and "FAIL market" in bad_out and "result: FAILED" in bad_out
        arb_code, arb_out, _ = await perpdex(
            *common, "--ticker", "BTC", "--position-size-usd", "500", "--max-orders", "3", cwd=tmp_path
        )
        assert arb_code == 0 and "PASS collateral: 3 × 500 USD" in arb_out, arb_out
        rig.refuse_credentials()
        refused_code, refused_out, _ = await perpdex(*common, "--ticker", "BTC", "--json", cwd=tmp_path)
        assert refused_code == 1 and '"ok": false' in refused_out
    for secret in rig.env.values():
        assert secret not in out + bad_out + refused_out


async def test_a_missing_env_file_or_bad_quantity_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = await perpdex("--exchange", "aster", "--ticker", "BTC", "--env-file", "nope.env", cwd=tmp_path)
    assert code == 2 and "nope.env" in err
    code, _, err = await perpdex("--exchange", "aster", "--ticker", "BTC", "--quantity", "-1", cwd=tmp_path)
    assert code == 2 and "--quantity" in err


async def test_missing_credentials_name_the_keys(tmp_path: Path) -> None:
    code, out, _ = await perpdex("--exchange", "edgex", "--ticker", "ETH", cwd=tmp_path)
    assert code == 1
    assert "FAIL credentials" in out and "EDGEX_ACCOUNT_ID" in out


def test_an_unusable_tick_size_fails() -> None:
    run = _Run(PreflightRequest(exchange="x", ticker="BTC"))
    broken = Market.model_construct(
        symbol="BTC",
        venue_symbol="BTC-X",
        contract_id="1",
        tick_size=Decimal(0),
        size_step=Decimal("0.001"),
        min_size=Decimal("0.001"),
    )
    _tick_size(broken, run)
    assert run.results["tickSize"].outcome is Outcome.FAIL
