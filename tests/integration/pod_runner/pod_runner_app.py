"""The container program of the pod-runner tests (mounted into the pod from a ConfigMap).

Prints one ``REPORT {json}`` line (argv, env, identity, files it can see, whether / is writable, who the API server
says it is through in-cluster config), then serves ``/healthz`` and ``/readyz`` (ready after ``READY_AFTER``
seconds) on ``--port`` (default 8080). Behaviour knobs (env): ``EXIT_CODE`` (exit right after the report),
``STOP_MODE`` (``graceful``: on SIGTERM print ``SIGTERM``, wait ``STOP_DELAY`` s, print ``EXIT``, exit 0;
``ignore``: print ``SIGTERM ignored`` and keep running), ``SPAWN_CHILD`` (start a ``sleep`` child in its group).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

START = time.monotonic()


def say(line: str) -> None:
    print(line, flush=True)


def files() -> dict[str, str]:
    found: dict[str, str] = {}
    for root in ("/etc/app", "/var/run/secrets/kubernetes.io/serviceaccount", "/etc/podinfo"):
        if os.path.isdir(root):
            for name in sorted(os.listdir(root)):
                path = os.path.join(root, name)
                if os.path.isfile(path):
                    with open(path, errors="replace") as fh:
                        found[path] = fh.read()
    return found


def writable(path: str) -> bool | str:
    try:
        with open(path, "w") as fh:
            fh.write("x")
        os.unlink(path)
        return True
    except OSError as exc:
        return exc.strerror or str(exc)


def config_file() -> str | None:
    """The file named by ``--config=PATH``, if any (the fallback rewrites that path)."""
    for arg in sys.argv:
        if arg.startswith("--config="):
            path = Path(arg.split("=", 1)[1])
            return path.read_text() if path.is_file() else f"missing: {path}"
    return None


def whoami() -> str:
    try:
        from bot_runtime.kube import KubeClient, KubeConfig

        async def ask() -> str:
            async with KubeClient(KubeConfig.load()) as kube:
                review = await kube.create(
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                )
                return str(review["status"]["userInfo"]["username"])

        return asyncio.run(ask())
    except Exception as exc:  # reported, not raised: the test asserts on it
        return f"error: {exc!r}"


def main() -> None:
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8080
    report = {
        "argv": sys.argv,
        "cmdline": Path("/proc/self/cmdline").read_bytes().decode().split("\0")[:-1],
        "env": dict(os.environ),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
        "files": files(),
        "root_writable": writable("/pod-runner-probe"),
        "tmp_writable": writable("/tmp/pod-runner-probe"),
        "whoami": whoami() if os.environ.get("WHOAMI") else "",
        "pid": os.getpid(),
        "config": config_file(),
    }
    say("REPORT " + json.dumps(report))
    if "EXIT_CODE" in os.environ:
        sys.exit(int(os.environ["EXIT_CODE"]))
    if os.environ.get("SPAWN_CHILD"):
        subprocess.Popen(["sleep", "3600"])  # a child in the pod's process group

    ready_after = float(os.environ.get("READY_AFTER", "0"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                code = 200
            elif self.path == "/readyz":
                code = 200 if time.monotonic() - START >= ready_after else 503
            else:
                code = 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"no")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def on_term(*_: object) -> None:
        if os.environ.get("STOP_MODE") == "ignore":
            say("SIGTERM ignored")
            return
        say("SIGTERM")
        time.sleep(float(os.environ.get("STOP_DELAY", "0")))
        say("EXIT")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    say(f"SERVING {port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
