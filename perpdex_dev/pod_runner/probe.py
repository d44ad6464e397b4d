"""Container probes the way the kubelet runs them: ``httpGet`` (success = status 200-399, TLS unverified for HTTPS),
``tcpSocket`` (the connection opens) and ``exec`` (exit 0, run inside the pod's namespaces with ``nsenter``), with
``initialDelaySeconds``, ``periodSeconds``, ``timeoutSeconds``, ``successThreshold`` and ``failureThreshold``."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from perpdex_dev.pod_runner.models import Container, Probe
from perpdex_dev.pod_runner.net import PodNetwork

USER_AGENT = "kube-probe/1.34 (perpdex-pod-runner)"


@dataclass
class ExecContext:
    pid: int
    env: dict[str, str]
    uid: int | None
    gid: int | None


async def _http_get(probe: Probe, container: Container, network: PodNetwork) -> tuple[bool, str]:
    action = probe.http_get
    assert action is not None
    port = container.port_number(action.port)
    if port is None:
        return False, f"port {action.port!r} is not a container port"
    timeout = max(probe.timeout_seconds, 1)
    sock = await network.connect(port, timeout)
    tls: ssl.SSLContext | None = None
    if action.scheme == "HTTPS":
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    host = action.host or "127.0.0.1"
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(sock=sock, ssl=tls, server_hostname=host if tls else None)
    try:
        headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
        headers.update({h.name: h.value for h in action.http_headers})
        request = f"GET {action.path or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((request + "\r\n").encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(timeout):
            status_line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()
    parts = status_line.decode("latin-1").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return False, f"malformed HTTP response {status_line[:60]!r}"
    code = int(parts[1])
    if 200 <= code < 400:
        return True, f"HTTP {code}"
    return False, f"HTTP probe failed with statuscode: {code}"


async def _tcp(probe: Probe, container: Container, network: PodNetwork) -> tuple[bool, str]:
    action = probe.tcp_socket
    assert action is not None
    port = container.port_number(action.port)
    if port is None:
        return False, f"port {action.port!r} is not a container port"
    sock = await network.connect(port, max(probe.timeout_seconds, 1))
    sock.close()
    return True, "connected"


async def _exec(probe: Probe, ctx: ExecContext | None, namespaces: bool) -> tuple[bool, str]:
    action = probe.exec_
    assert action is not None
    if ctx is None or not action.command:
        return False, "no command"
    argv = list(action.command)
    if namespaces:
        nsenter = shutil.which("nsenter") or "nsenter"
        prefix = [nsenter, f"--target={ctx.pid}", "--mount", "--net", "--uts"]
        if ctx.uid is not None:
            prefix.append(f"--setuid={ctx.uid}")
        if ctx.gid is not None:
            prefix.append(f"--setgid={ctx.gid}")
        argv = [*prefix, "--", *argv]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=ctx.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(max(probe.timeout_seconds, 1)):
            out, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, "command timed out"
    if proc.returncode == 0:
        return True, "exit 0"
    return False, f"command failed with exit code {proc.returncode}: {out.decode(errors='replace')[-200:]}"


async def probe_once(
    probe: Probe, container: Container, network: PodNetwork, exec_ctx: ExecContext | None, namespaces: bool
) -> tuple[bool, str]:
    """One probe attempt: (success, message)."""
    try:
        if probe.http_get is not None:
            return await _http_get(probe, container, network)
        if probe.tcp_socket is not None:
            return await _tcp(probe, container, network)
        if probe.exec_ is not None:
            return await _exec(probe, exec_ctx, namespaces)
    except TimeoutError:
        return False, f"timeout after {max(probe.timeout_seconds, 1)}s"
    except (OSError, ConnectionError, ssl.SSLError) as exc:
        return False, str(exc) or type(exc).__name__
    return False, "probe type not supported by the local pod runner (grpc)"


class Prober:
    """Runs one probe periodically and calls ``on_result(ok, message)`` each time the thresholded result flips
    (``successThreshold`` successes in a row → True, ``failureThreshold`` failures in a row → False). A startup
    probe (``until_success``) ends at its first success."""

    def __init__(
        self,
        kind: str,
        probe: Probe,
        attempt: Callable[[], Awaitable[tuple[bool, str]]],
        on_result: Callable[[bool, str], Awaitable[None]],
        *,
        until_success: bool = False,
    ) -> None:
        self.kind = kind
        self._until_success = until_success
        self.probe = probe
        self._attempt = attempt
        self._on_result = on_result
        self.result: bool | None = None

    async def run(self) -> None:
        await asyncio.sleep(max(self.probe.initial_delay_seconds, 0))
        successes = failures = 0
        while True:
            ok, message = await self._attempt()
            if ok:
                successes, failures = successes + 1, 0
                if self.result is not True and successes >= max(self.probe.success_threshold, 1):
                    self.result = True
                    await self._on_result(True, message)
                    if self._until_success:
                        return
            else:
                successes, failures = 0, failures + 1
                if self.result is not False and failures >= max(self.probe.failure_threshold, 1):
                    self.result = False
                    await self._on_result(False, message)
            await asyncio.sleep(max(self.probe.period_seconds, 1))
