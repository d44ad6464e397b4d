"""The paper exchange's baseline: a bare FastAPI app on uvicorn (same server as ``perpdex paper-exchange serve``) whose
``POST /echo`` answers its JSON body unchanged and whose ``/ws`` WebSocket sends back every frame.

``python -m bench.echo_app --port 8123``
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response


def create_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(content=await request.body(), media_type="application/json", status_code=201)

    @app.get("/ping")
    async def ping() -> Response:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        try:
            while True:
                await socket.send_text(await socket.receive_text())
        except WebSocketDisconnect:
            return

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.echo_app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
