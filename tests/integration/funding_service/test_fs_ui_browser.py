"""The funding dashboard in a real browser: headless Chromium (Debian's package, ``make system-deps``) loads ``/``
from a real funding service process on the test PostgreSQL server, and the page is checked against the API's own
answers: the table's rows and order against ``/api/v1/opportunities`` with the same query, the chart's data against
``/api/v1/history/funding-rates/{dex}/{symbol}?bucket=1h`` for each venue, venue health against ``/health``. Sorting and
filters are URLs; the table is complete with JavaScript off; the skip link is the first Tab stop; no console error,
uncaught exception, failed resource or CSP violation on any load. Screenshots go to the test's temp dir (and, when
``PERPDEX_SCREENSHOT_DIR`` is set, the main one is copied there: the README's image is made this way)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from perpdex_dev.control_plane import free_port
from tests.integration.funding_service.fs_helpers import AUTH, TOKEN, batch, close_service, open_service, rate
from tests.support.chromium import Browser, Page

pytestmark = pytest.mark.integration

# (venue, symbol) -> (interval hours, base rate per interval): three venues, two intervals (hourly normalisation
# matters), three symbols; each hour's rate moves a little so the chart has a shape
VENUES = {
    ("lighter", "BTC"): ("1", "0.0000125"),
    ("aster", "BTC"): ("8", "0.00031"),
    ("paradex", "BTC"): ("8", "0.0001"),
    ("lighter", "ETH"): ("1", "0.00002"),
    ("aster", "ETH"): ("8", "-0.0002"),
    ("paradex", "ETH"): ("8", "0.00045"),
    ("lighter", "SOL"): ("1", "0.00004"),
    ("aster", "SOL"): ("8", "0.00005"),
}
HOURS = 30


def _rates(at: datetime, step: int) -> list[dict[str, Any]]:
    rows = []
    for (venue, symbol), (interval, base) in VENUES.items():
        wobble = Decimal(1) + Decimal((step * 7 + len(venue)) % 11 - 5) / 50
        rows.append(
            rate(
                venue,
                symbol,
                str(Decimal(base) * wobble),
                interval,
                at,
                mark_price={"BTC": "60000", "ETH": "3000", "SOL": "150"}[symbol],
                open_interest_usd="25000000",
                volume_24h_usd="90000000",
            )
        )
    return rows


@pytest.fixture(scope="module")
def dashboard_url(fs_dsn: str) -> Iterator[str]:
    """A real ``perpdex funding-service serve`` process with HOURS hours of collected rates."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_FS_")}
    env |= {
        "PERPDEX_FS_DATABASE_URL": fs_dsn,
        "PERPDEX_FS_INGEST_TOKEN": TOKEN,
        "PERPDEX_FS_HOST": "127.0.0.1",
        "PERPDEX_FS_PORT": str(port),
        "PERPDEX_FS_CLEANUP_INTERVAL_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot_runtime.cli", "funding-service", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/simple", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the funding service did not come up"
            time.sleep(0.2)
        now = datetime.now(UTC).replace(microsecond=0)
        for step in range(HOURS, -1, -1):
            at = now - timedelta(hours=step)
            answer = httpx.post(
                f"{base}/api/v1/ingest/funding-rates", json=batch(f"c{step}", _rates(at, step), at), headers=AUTH
            )
            assert answer.status_code == 200, answer.text
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser.start(tmp_path_factory.mktemp("chromium")) as b:
        yield b


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with browser.page() as p:
        yield p
        assert p.errors == [], p.errors


async def _table(page: Page) -> list[dict[str, Any]]:
    return list(
        await page.evaluate(
            """[...document.querySelectorAll('#opportunities-table tbody tr[data-symbol]')].map(tr => ({
                 symbol: tr.dataset.symbol, long: tr.dataset.long, short: tr.dataset.short,
                 values: [...tr.cells].map(td => td.dataset.value), text: [...tr.cells].map(td => td.innerText)}))"""
        )
    )


async def _api(page: Page) -> dict[str, Any]:
    """The API answer the page names for its table (its "same rows as JSON" link)."""
    href = await page.evaluate("document.querySelector('#opportunities .note a').href")
    answer = await _get(href)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def _get(url: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, params=params)


NET_APR, GROSS_APR = 3, 4  # columns


async def test_root_redirects_a_browser_and_the_table_is_the_apis(
    dashboard_url: str, page: Page, tmp_path: Path
) -> None:
    await page.goto(f"{dashboard_url}/")
    assert await page.evaluate("location.pathname") == "/ui/"
    assert await page.evaluate("document.title") == "Funding rates · perp-dex funding service"
    rows = await _table(page)
    api = await _api(page)
    expected = api["opportunities"]
    assert len(rows) == len(expected) == min(25, api["matched_count"]) > 3
    for row, want in zip(rows, expected, strict=True):
        assert (row["symbol"], row["long"], row["short"]) == (want["symbol"], want["long_dex"], want["short_dex"])
        assert Decimal(row["values"][NET_APR]) == Decimal(want["net_apr"])
        assert Decimal(row["values"][GROSS_APR]) == Decimal(want["gross_apr"])
        # displayed rounded: percent with two decimals
        assert row["text"][NET_APR] == f"{(Decimal(want['net_apr']) * 100).quantize(Decimal('0.01'))} %"
    net = [Decimal(r["values"][NET_APR]) for r in rows]
    assert net == sorted(net, reverse=True)  # the default: net APR, descending
    assert await page.evaluate("document.querySelector('th[aria-sort]').dataset.sort") == "net_apr"
    # API clients keep the JSON service info at /
    assert (await _get(f"{dashboard_url}/")).json()["docs"] == "/api/v1/docs"
    shot = await page.screenshot(tmp_path / "dashboard.png")
    target = os.environ.get("PERPDEX_SCREENSHOT_DIR")
    if target:
        shutil.copyfile(shot, Path(target) / "dashboard.png")


async def test_sorting_and_filters_are_bookmarkable_urls(dashboard_url: str, page: Page, tmp_path: Path) -> None:
    await page.goto(f"{dashboard_url}/ui/")
    # sort by gross APR through the header link (as a keyboard user would follow it)
    href = await page.evaluate("document.querySelector('th[data-sort=gross_apr] a').getAttribute('href')")
    await page.goto(urljoin(f"{dashboard_url}/ui/", href))
    gross = [Decimal(r["values"][GROSS_APR]) for r in await _table(page)]
    assert gross == sorted(gross, reverse=True)
    assert await page.evaluate("document.querySelector('th[aria-sort]').getAttribute('aria-sort')") == "descending"
    # the same link again flips the order
    href = await page.evaluate("document.querySelector('th[data-sort=gross_apr] a').getAttribute('href')")
    await page.goto(urljoin(f"{dashboard_url}/ui/", href))
    gross = [Decimal(r["values"][GROSS_APR]) for r in await _table(page)]
    assert gross == sorted(gross)
    # filters: the form submits a GET; the resulting URL is the view
    await page.evaluate("document.getElementById('f-symbol').value = 'ETH'")
    await page.evaluate("document.getElementById('f-min_net_apr').value = '0.1'")
    loaded = page.expect("Page.loadEventFired")
    await page.evaluate("document.querySelector('form.filters').requestSubmit()")
    await loaded
    url = await page.evaluate("location.href")
    assert "symbol=ETH" in url and "min_net_apr=0.1" in url and "sort_by=gross_apr" in url
    rows = await _table(page)
    api = await _api(page)
    assert [(r["symbol"], r["long"], r["short"]) for r in rows] == [
        (o["symbol"], o["long_dex"], o["short_dex"]) for o in api["opportunities"]
    ]
    assert rows and all(r["symbol"] == "ETH" and Decimal(r["values"][NET_APR]) >= Decimal("0.1") for r in rows)
    await page.screenshot(tmp_path / "filtered.png")
    # a filter the API refuses: the page says which
    await page.goto(f"{dashboard_url}/ui/?dex=binance")
    assert "dex: unknown dex 'binance'" in await page.evaluate(
        "document.querySelector('#opportunities [role=alert]').innerText"
    )
    bad = await _get(f"{dashboard_url}/ui/?limit=500")
    assert bad.status_code == 422 and "limit" in bad.text and bad.headers["content-type"].startswith("text/html")


async def test_chart_draws_the_apis_history_across_venues(dashboard_url: str, page: Page, tmp_path: Path) -> None:
    await page.goto(f"{dashboard_url}/ui/?chart=BTC&days=3")
    chart = await page.evaluate(
        """({symbol: window.perpdexChart.symbol, venues: window.perpdexChart.venues,
             data: window.perpdexChart.plot.data.map(c => Array.from(c)),
             canvas: document.querySelectorAll('#chart-canvas canvas').length,
             embedded: JSON.parse(document.getElementById('chart-data').textContent)})"""
    )
    assert chart["symbol"] == "BTC" and chart["venues"] == ["aster", "lighter", "paradex"] and chart["canvas"] == 1
    xs = chart["data"][0]
    start, end = chart["embedded"]["start"], chart["embedded"]["end"]
    for i, venue in enumerate(chart["venues"], start=1):
        history = (
            await _get(
                f"{dashboard_url}/api/v1/history/funding-rates/{venue}/BTC",
                bucket="1h",
                start=start,
                end=end,
                order="asc",
                limit=10000,
            )
        ).json()
        points = {
            datetime.fromisoformat(p["time"]).timestamp(): float(Decimal(p["annualized_rate"]) * 100)
            for p in history["data_points"]
        }
        drawn = {x: y for x, y in zip(xs, chart["data"][i], strict=True) if y is not None}
        assert drawn.keys() == points.keys() and len(points) >= 4
        for x, y in points.items():
            assert drawn[x] == pytest.approx(y, rel=1e-12)
    # hourly normalisation: lighter's 1 h rate and aster's 8 h rate are comparable APRs (both around 10-30 %)
    lighter = [y for y in chart["data"][2] if y is not None]
    aster = [y for y in chart["data"][1] if y is not None]
    assert 5 < sum(lighter) / len(lighter) < 20 and 20 < sum(aster) / len(aster) < 50
    # the same figures as a table for screen readers and without JavaScript
    headers = await page.evaluate("[...document.querySelectorAll('#chart-table thead th')].map(th => th.textContent)")
    assert headers == ["Hour (UTC)", "aster", "lighter", "paradex"]
    await page.screenshot(tmp_path / "chart.png")


async def test_venue_health_is_healths(dashboard_url: str, page: Page) -> None:
    await page.goto(f"{dashboard_url}/ui/")
    shown = await page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#venues-table tbody tr')].map(
             tr => [tr.dataset.venue, tr.cells[1].innerText]))"""
    )
    health = (await _get(f"{dashboard_url}/health")).json()
    active = {d["dex_name"]: d["status"].replace("_", " ") for d in health["dex_health"] if d["is_active"]}
    assert shown == active
    assert {shown["lighter"], shown["aster"], shown["paradex"]} == {"healthy"}


async def test_readable_without_javascript_and_by_keyboard(dashboard_url: str, page: Page, tmp_path: Path) -> None:
    await page.goto(f"{dashboard_url}/ui/")
    with_js = await _table(page)
    # keyboard: the first Tab stop is the skip link, Enter on it moves to the table's section
    await page.press("Tab", "Tab", 9)
    assert await page.evaluate("document.activeElement.textContent") == "Skip to the opportunities"
    await page.press("Enter", "Enter", 13)
    assert await page.evaluate("location.hash") == "#opportunities"
    labels = await page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select')].filter(el => !el.labels || !el.labels.length).length"
    )
    assert labels == 0  # every control has a label
    await page.send("Emulation.setScriptExecutionDisabled", value=True)
    await page.reload()
    assert await page.evaluate("1 + 1") == 2  # evaluation by DevTools still works, page scripts do not run
    assert await page.evaluate("typeof window.perpdexChart") == "undefined"
    without_js = await _table(page)
    assert [r["values"][:3] for r in without_js] == [r["values"][:3] for r in with_js]
    assert await page.evaluate("document.querySelectorAll('#chart-table tbody tr').length") > 4
    await page.screenshot(tmp_path / "no-javascript.png")
    await page.send("Emulation.setScriptExecutionDisabled", value=False)


async def test_off_for_api_only_installs(fs_dsn: str) -> None:
    svc = await open_service(fs_dsn, ui_enabled=False)
    try:
        assert (await svc.http.get("/ui/")).status_code == 404
        root = await svc.http.get("/", headers={"Accept": "text/html"})
        assert root.status_code == 200 and root.json()["service"] == "perp-dex funding service"
        assert (await svc.http.get("/ui/static/dashboard.js")).status_code == 404
    finally:
        await close_service(svc)
