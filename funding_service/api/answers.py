"""Cached answers of the busiest read routes (``/opportunities``, ``/funding-rates``).

A route declared with ``route_class=CachedRoute`` first looks for an answer computed for the same normalised query
from the current snapshot (:mod:`funding_service.api.state`); when there is one, it is rendered at the request's
instant and sent before FastAPI parses a single query parameter. Otherwise the endpoint runs as usual and stores its
answer with :func:`answer`. Only successful answers are stored: a query that fails validation is never cached.

The OpenAPI document is unchanged: the endpoints keep their parameters and their ``response_model``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from funding_service.api.encoded import JSON, Hole, TemplateMismatch, encode, model_bytes
from funding_service.api.metrics import ASGIApp, Receive, Scope, Send
from funding_service.api.state import CachedAnswer, ServiceState, Snapshot, get_state

log = logging.getLogger(__name__)

_SNAPSHOT = "perpdex.snapshot"
_KEY = "perpdex.answer_key"
_NAMES = "perpdex.query_names"
MAX_FAST_PATHS = 64
AnswerKey = tuple[str, tuple[tuple[str, str], ...]]


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route reads (its own and its dependencies')."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(f.alias for f in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)


def answer_key(scope: Scope, names: frozenset[str]) -> AnswerKey:
    """(path, the route's query parameters sorted by name): parameters the route does not read are left out (FastAPI
    ignores them), the order of different parameters does not matter, and a repeated parameter keeps its own order
    (FastAPI reads its last value)."""
    raw = scope.get("query_string", b"")
    pairs = [p for p in parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if p[0] in names] if raw else []
    return str(scope["path"]), tuple(sorted(pairs, key=itemgetter(0)))


async def snapshot(request: Request, state: ServiceState) -> Snapshot:
    """The snapshot this request uses (the one the cache lookup already fetched, if any)."""
    snap = request.scope.get(_SNAPSHOT)
    if isinstance(snap, Snapshot):
        return snap
    snap = await state.latest.get()
    request.scope[_SNAPSHOT] = snap
    return snap


class CachedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        names = query_names(self.dependant)

        async def cached(request: Request) -> Response:
            state = get_state(request)
            if state.responses.max_entries > 0:
                snap = await snapshot(request, state)
                now = state.clock()
                key = request.scope[_KEY] = answer_key(request.scope, names)
                request.scope[_NAMES] = names
                entry = state.responses.get(key, snap.generation, now)
                if entry is not None:
                    return entry.value.response(now)
            return await handler(request)

        return cached


def answer(
    request: Request,
    state: ServiceState,
    snap: Snapshot,
    model: BaseModel,
    *,
    holes: Sequence[Hole],
    now: datetime,
    valid_until: datetime | None,
    store: bool = True,
) -> Response:
    """The response for ``model`` (computed at ``now`` from ``snap``), stored for the next identical query when the
    route is a :class:`CachedRoute` (and ``store``)."""
    key = request.scope.get(_KEY)
    if key is None or not store or state.responses.max_entries <= 0:
        return Response(model_bytes(model), media_type=JSON)
    try:
        template = encode(model, holes, now)
    except TemplateMismatch as exc:  # never serve a wrong answer: this one is sent as computed and not cached
        log.warning("answer of %s not cached: %s", key[0], exc)
        return Response(model_bytes(model), media_type=JSON)
    route, names = request.scope.get("route"), request.scope.get(_NAMES)
    if names is not None and (key[0] in state.fast_paths or len(state.fast_paths) < MAX_FAST_PATHS):
        state.fast_paths[key[0]] = (route, names)
    state.responses.put(
        key,
        CachedAnswer(
            generation=snap.generation,
            computed_at=now,
            valid_until=valid_until,
            value=template,
            size=template.size,
        ),
    )
    return template.response(now)


class FastAnswers:
    """ASGI middleware (inside the metrics one): a GET of a path that stores answers, whose answer is cached for the
    current snapshot, is answered from the cache before FastAPI's routing. Anything else, including a request that
    would have to re-check the snapshot against the database first, goes through the application."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            state = self.state
            known = state.fast_paths.get(scope["path"])
            snap = state.latest.current() if known is not None else None
            if known is not None and snap is not None:
                route, names = known
                now = state.clock()
                entry = state.responses.get(answer_key(scope, names), snap.generation, now)
                if entry is not None:
                    scope["route"] = route  # what routing would have set (the metrics label it)
                    await entry.value.response(now)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
