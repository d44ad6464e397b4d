"""Pod networking for the local pod runner.

Isolated (the default where the kernel permits it): every pod has its own network namespace with only a loopback
interface, so every pod can listen on its template's port (8080) with its args untouched, and ``127.0.0.1`` inside
the pod is the pod itself, as in Kubernetes. The runner wires it from the outside:

- *in*: every TCP port listening on the host's loopback (or on all addresses) -- the API server, the funding service,
  PostgreSQL, test servers -- gets a listener on the same port inside the pod's namespace that relays to the host, so
  ``https://127.0.0.1:<api port>`` and the rest work unchanged from inside; the pod's own container ports are never
  mirrored, and newly opened host ports are picked up by a periodic scan;
- *out*: each container port is exposed on a free host port, or on its ``hostPort`` when the template sets one
  (recorded in the Pod's annotations); probes connect to the container port directly inside the namespace. A
  ``hostPort`` is a host loopback listener like any other, so every other pod reaches it at ``127.0.0.1:<hostPort>``.

Sockets are created inside a pod's namespace by a dedicated thread that ``setns()``es in and straight back out; a
socket stays in the namespace it was created in. Nothing else in the runner ever leaves the host namespace.

Host network (fallback when namespaces are not permitted, or ``hostNetwork: true``): the pod shares the host's
network; each container port is given a free host port and a ``--*port`` argument naming that container port is
rewritten to it (the only change ever made to a command line, logged and recorded in the annotations).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("perpdex.pod_runner.net")

CLONE_NEWNET = 0x40000000
_LISTEN = "0A"
_T = TypeVar("_T")


# host listeners ----------------------------------------------------------------------------------------------------
def _loopback_or_any(hex_addr: str) -> str | None:
    """The address to reach a listener bound to ``hex_addr`` (from /proc/net/tcp*), or None if not local."""
    if len(hex_addr) == 8:
        raw = bytes.fromhex(hex_addr)[::-1]
        if raw == b"\0\0\0\0" or raw[0] == 127:
            return "127.0.0.1" if raw == b"\0\0\0\0" else socket.inet_ntoa(raw)
        return None
    words = [bytes.fromhex(hex_addr[i : i + 8])[::-1] for i in range(0, 32, 8)]
    raw6 = b"".join(words)
    if raw6 == b"\0" * 16:
        return "::1"
    if raw6 == b"\0" * 15 + b"\1":
        return "::1"
    if raw6[:12] == b"\0" * 10 + b"\xff\xff" and raw6[12] == 127:
        return socket.inet_ntoa(raw6[12:])
    return None


def host_listeners(proc_net: Path = Path("/proc/self/net")) -> dict[int, str]:
    """TCP ports listening on the host's loopback or on all addresses: port → address to connect to (IPv4 wins)."""
    found: dict[int, str] = {}
    for name in ("tcp6", "tcp"):  # tcp last: an IPv4 address overrides ::1
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != _LISTEN:
                continue
            addr, _, port_hex = fields[1].partition(":")
            target = _loopback_or_any(addr)
            if target is not None:
                found[int(port_hex, 16)] = target
    return found


# namespaces --------------------------------------------------------------------------------------------------------
class NamespaceSockets:
    """Creates sockets inside other network namespaces from one dedicated thread."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._host_fd = os.open(f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net", os.O_RDONLY)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pod-runner-netns")
        self._broken = False

    def _setns(self, fd: int) -> None:
        if self._libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")

    def _inside(self, ns_fd: int, make: Callable[[], _T]) -> _T:
        if self._broken:
            raise OSError("the namespace thread could not return to the host namespace")
        self._setns(ns_fd)
        try:
            return make()
        finally:
            try:
                self._setns(self._host_fd)
            except OSError:
                self._broken = True
                raise

    async def run(self, ns_fd: int, make: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._inside, ns_fd, make)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        os.close(self._host_fd)


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


# relaying ----------------------------------------------------------------------------------------------------------
async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def relay(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    """Copy both ways until both sides are done; an error on either side closes both."""
    tasks = [asyncio.ensure_future(_pump(a[0], b[1])), asyncio.ensure_future(_pump(b[0], a[1]))]
    try:
        pending: set[asyncio.Future[None]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                break
    finally:
        for t in tasks:
            t.cancel()
        for _, w in (a, b):
            w.close()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                await t


class PodNetwork:
    """One pod's network: how to reach its container ports, and which host ports they are exposed on (``fixed``: the
    template's ``hostPort`` of a container port, exposed on exactly that host port; the others on free ones)."""

    def __init__(self, container_ports: list[int], fixed: Mapping[int, int] | None = None) -> None:
        self.container_ports = sorted(set(container_ports))
        self.fixed = dict(fixed or {})
        self.host_ports: dict[int, int] = {}  # container port -> host port

    @property
    def isolated(self) -> bool:
        return False

    async def open(self) -> None:
        """Called once before the first container start."""

    async def attach(self, pid: int) -> None:
        """Called for each container start, between namespace setup and exec (``pid`` keeps its namespaces)."""

    async def detach(self) -> None:
        """Called when the container process has exited."""

    async def connect(self, port: int, within: float) -> socket.socket:
        """A connected (non-blocking) socket to ``port`` of the running container, as a probe reaches it."""
        raise NotImplementedError

    async def mirror(self, listeners: dict[int, str]) -> None:
        """Follow the host's listening ports (isolated networks only)."""

    async def close(self) -> None:
        """Release everything (the pod is gone)."""


class HostNetwork(PodNetwork):
    """Shared host network: each container port gets a free host port that the process is told to use."""

    def __init__(
        self, container_ports: list[int], fixed: Mapping[int, int] | None = None, *, exact: bool = False
    ) -> None:
        super().__init__(container_ports, fixed)
        for port in self.container_ports:
            self.host_ports[port] = port if exact else self.fixed.get(port) or _free_port()

    async def connect(self, port: int, within: float) -> socket.socket:
        loop = asyncio.get_running_loop()
        sock = _client_socket()
        try:
            async with asyncio.timeout(within):
                await loop.sock_connect(sock, ("127.0.0.1", self.host_ports.get(port, port)))
        except BaseException:
            sock.close()
            raise
        return sock


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rewrite_port_args(argv: list[str], mapping: dict[int, int]) -> list[str]:
    """``--metrics-port 8080`` / ``--metrics-port=8080`` → the mapped host port, for flags naming a port."""
    out = list(argv)
    for i, part in enumerate(out):
        if not part.startswith("-"):
            continue
        flag, eq, value = part.partition("=")
        if "port" not in flag.lower():
            continue
        if eq and value.isdigit() and int(value) in mapping:
            out[i] = f"{flag}={mapping[int(value)]}"
        elif not eq and i + 1 < len(out) and out[i + 1].isdigit() and int(out[i + 1]) in mapping:
            out[i + 1] = str(mapping[int(out[i + 1])])
    return out


class IsolatedNetwork(PodNetwork):
    """A private network namespace per pod, wired to the host by relays (see the module docstring)."""

    def __init__(
        self, container_ports: list[int], sockets: NamespaceSockets, fixed: Mapping[int, int] | None = None
    ) -> None:
        super().__init__(container_ports, fixed)
        self._sockets = sockets
        self._ns_fd: int | None = None
        self._exposed: list[asyncio.Server] = []
        self._mirrors: dict[int, asyncio.Server] = {}
        self._relays: set[asyncio.Future[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def isolated(self) -> bool:
        return True

    async def open(self) -> None:
        for port in self.container_ports:
            server = await asyncio.start_server(
                self._make_inbound(port), host="127.0.0.1", port=self.fixed.get(port, 0)
            )
            self._exposed.append(server)
            self.host_ports[port] = server.sockets[0].getsockname()[1]

    async def attach(self, pid: int) -> None:
        async with self._lock:
            await self._drop_mirrors()
            if self._ns_fd is not None:
                os.close(self._ns_fd)
            self._ns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)

    async def detach(self) -> None:
        async with self._lock:
            await self._drop_mirrors()
            if self._ns_fd is not None:
                os.close(self._ns_fd)
                self._ns_fd = None

    async def _drop_mirrors(self) -> None:
        for server in self._mirrors.values():
            server.close()
        self._mirrors.clear()

    async def mirror(self, listeners: dict[int, str]) -> None:
        async with self._lock:
            if self._ns_fd is None:
                return
            own = set(self.container_ports) | set(self.host_ports.values())
            wanted = {p: a for p, a in listeners.items() if p not in own}
            for port in [p for p in self._mirrors if p not in wanted]:
                self._mirrors.pop(port).close()
            for port, address in wanted.items():
                if port in self._mirrors:
                    continue
                ns_fd = self._ns_fd
                try:
                    sock = await self._sockets.run(ns_fd, functools.partial(_listener, "127.0.0.1", port))
                except OSError as exc:
                    # the pod itself listens there already (a port it did not declare): it wins, as in a pod
                    log.debug("cannot mirror host port %s into the pod: %s", port, exc)
                    continue
                self._mirrors[port] = await asyncio.start_server(self._make_outbound(address, port), sock=sock)

    def _track(self, task: asyncio.Future[None]) -> None:
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)

    def _make_outbound(
        self, address: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], asyncio.Future[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                async with asyncio.timeout(10):
                    upstream = await asyncio.open_connection(address, port)
            except (OSError, TimeoutError):
                writer.close()
                return
            await relay((reader, writer), upstream)

        def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.Future[None]:
            task = asyncio.ensure_future(handle(reader, writer))
            self._track(task)
            return task

        return start

    def _make_inbound(self, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], asyncio.Future[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                sock = await self.connect(port, 10)
                inner = await asyncio.open_connection(sock=sock)
            except (OSError, TimeoutError):
                writer.close()
                return
            await relay((reader, writer), inner)

        def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> asyncio.Future[None]:
            task = asyncio.ensure_future(handle(reader, writer))
            self._track(task)
            return task

        return start

    async def connect(self, port: int, within: float) -> socket.socket:
        ns_fd = self._ns_fd
        if ns_fd is None:
            raise ConnectionRefusedError(f"port {port}: the container is not running")
        sock = await self._sockets.run(ns_fd, _client_socket)
        try:
            async with asyncio.timeout(within):
                await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return sock

    async def close(self) -> None:
        await self.detach()
        for server in self._exposed:
            server.close()
        self._exposed.clear()
        for task in list(self._relays):
            task.cancel()
        for task in list(self._relays):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
