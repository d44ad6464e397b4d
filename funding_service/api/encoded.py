"""Answers encoded once and re-rendered per request: the JSON bytes of a response model with "holes" for the values
that depend on the instant of the request (``generated_at``, data ages, stale flags, time to next funding).

:func:`encode` serialises a model exactly as FastAPI does for a ``response_model`` (pydantic's JSON serialiser),
with each hole replaced by a marker, and checks that rendering the holes at the model's own instant gives back the
model's bytes; :meth:`Template.render` then only computes the holes and joins bytes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core
from fastapi.responses import Response
from pydantic import BaseModel

# a hole: a path into the model's JSON object and the function giving its value at a request's instant
Path = tuple[str | int, ...]
Hole = tuple[Path, Callable[[datetime], Any]]

JSON = "application/json"


class TemplateMismatch(Exception):
    """The template does not reproduce the model's own bytes (a hole's function disagrees with the model)."""


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[bytes, ...]  # len(parts) == len(fills) + 1
    fills: tuple[Callable[[datetime], Any], ...]

    @property
    def size(self) -> int:
        """About the bytes it holds (for the cache's budget)."""
        return sum(len(p) for p in self.parts) + 64 * len(self.fills)

    def render(self, now: datetime) -> bytes:
        if not self.fills:
            return self.parts[0]
        # one serialiser call for every hole; none of the values (numbers, booleans, null, timestamps) has a comma
        values = pydantic_core.to_json([fill(now) for fill in self.fills])[1:-1].split(b",")
        out: list[bytes] = [self.parts[0]]
        for value, part in zip(values, self.parts[1:], strict=True):
            out.append(value)
            out.append(part)
        return b"".join(out)

    def response(self, now: datetime) -> Response:
        return Response(self.render(now), media_type=JSON)


def model_bytes(model: BaseModel) -> bytes:
    """What FastAPI sends for ``model`` as a ``response_model`` (compact JSON from pydantic's serialiser)."""
    return model.__pydantic_serializer__.to_json(model)


def encode(model: BaseModel, holes: Sequence[Hole], at: datetime) -> Template:
    """The template of ``model`` (computed at instant ``at``) with ``holes``; :class:`TemplateMismatch` when
    rendering at ``at`` would not give exactly the model's bytes."""
    expected = model_bytes(model)
    if not holes:
        return Template((expected,), ())
    token = "\x00" + secrets.token_hex(8) + ":"
    data = model.model_dump(mode="json")
    for i, (path, _) in enumerate(holes):
        _put(data, path, f"{token}{i}")
    encoded = pydantic_core.to_json(data)
    pieces = re.split(rb'"' + re.escape(pydantic_core.to_json(token)[1:-1]) + rb'(\d+)"', encoded)
    parts = tuple(pieces[0::2])
    order = [int(i) for i in pieces[1::2]]
    if sorted(order) != list(range(len(holes))):
        raise TemplateMismatch("a hole is missing from the encoded answer")
    template = Template(parts, tuple(holes[i][1] for i in order))
    if template.render(at) != expected:
        raise TemplateMismatch("the holes rendered at the answer's instant differ from the answer")
    return template


def _put(data: Any, path: Path, value: str) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(target, list) or not -len(target) <= last < len(target):
            raise TemplateMismatch(f"no list item at {path}")
    elif not isinstance(target, dict) or last not in target:
        raise TemplateMismatch(f"no field at {path}")
    target[last] = value
