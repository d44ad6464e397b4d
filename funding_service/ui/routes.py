"""``/ui/``: the dashboard page (:mod:`.render` of :mod:`.data`) and its static files (``static/``, vendored).

Bad query parameters get the page back with the problem named (status 422), never a JSON error: a person typed them.
Every answer carries a Content-Security-Policy that allows only this service's own scripts and styles.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from funding_service.api.state import get_state
from funding_service.ui import data, render
from funding_service.ui.query import PageQuery

STATIC = Path(__file__).parent / "static"
UI_PREFIX = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


@router.get(f"{UI_PREFIX}")
async def without_slash() -> RedirectResponse:
    return RedirectResponse("ui/", status_code=307)  # relative: right under a proxy's path prefix too


@router.get(f"{UI_PREFIX}/", response_class=HTMLResponse)
async def dashboard(request: Request) -> HTMLResponse:
    state = get_state(request)
    raw = {k: v for k, v in request.query_params.items() if v != ""}
    try:
        query = PageQuery.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        body = render.error_page(f"These filters cannot be used: {problems}.")
        return HTMLResponse(body, status_code=422, headers=HEADERS)
    page = await data.load(request, state, query)
    return HTMLResponse(render.page(page, request.app.version), headers=HEADERS)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")


def wants_html(request: Request) -> bool:
    """A browser asking for a page (``Accept: text/html``), not an API client (``*/*`` or JSON)."""
    return "text/html" in request.headers.get("accept", "")
