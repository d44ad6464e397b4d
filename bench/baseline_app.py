"""The HTTP baseline: a bare FastAPI app on uvicorn (the same server and options as ``perpdex funding-service
serve``) that answers each given path with a precomputed JSON body, byte for byte the real service's answer.

``python -m bench.baseline_app --port 8123 --body /api/v1/opportunities=/tmp/opps.json`` (repeatable ``--body``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response


def create_app(bodies: Mapping[str, bytes]) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def answer(body: bytes) -> Response:
        return Response(content=body, media_type="application/json")

    for path, body in bodies.items():

        async def endpoint(body: bytes = body) -> Response:  # default binds this path's body
            return answer(body)

        app.add_api_route(path, endpoint, methods=["GET"])

    @app.get("/ping")
    async def ping() -> Response:
        return answer(b'{"status":"ok"}')

    return app


def parse_bodies(items: list[str]) -> dict[str, bytes]:
    bodies: dict[str, bytes] = {}
    for item in items:
        path, sep, file = item.partition("=")
        if not sep or not path.startswith("/") or not file:
            raise argparse.ArgumentTypeError(f"--body wants /path=FILE, got {item!r}")
        bodies[path] = Path(file).read_bytes()
    return bodies


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", action="append", default=[], metavar="/PATH=FILE", help="path answered with FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = build_parser().parse_args(argv)
    app = create_app(parse_bodies(args.body))
    # the options of funding_service.cli._serve, so only the application differs
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=True, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
