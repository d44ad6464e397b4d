"""One container process: started through the sandbox helper, stopped like the kubelet stops a container (SIGTERM to
the process, SIGKILL to its whole process group after the grace period, and to any leftovers once it exited)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from perpdex_dev.pod_runner.sandbox import SandboxSpec

SETUP_TIMEOUT = 30.0


class StartError(Exception):
    """The container could not be started (the kubelet's ``StartError``/``RunContainerError``)."""


def exit_code(returncode: int) -> int:
    """asyncio's ``-SIGNAL`` as the container runtime reports it (128 + signal)."""
    return 128 - returncode if returncode < 0 else returncode


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class ContainerProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @classmethod
    async def start(
        cls,
        spec: SandboxSpec,
        log_path: Path,
        wire: Callable[[int], Awaitable[None]],
    ) -> ContainerProcess:
        """Start the helper, let ``wire(pid)`` set up the network while it waits, then let it exec.
        Raises :class:`StartError` when any step fails (the helper is then gone)."""
        spec_r, spec_w = os.pipe()
        status_r, status_w = os.pipe()
        go_r, go_w = os.pipe()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-E",
                "-s",
                "-m",
                "perpdex_dev.pod_runner.sandbox",
                str(spec_r),
                str(status_w),
                str(go_r),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=(spec_r, status_w, go_r),
                start_new_session=True,
                cwd="/",
                env={"LC_ALL": "C.UTF-8"},
            )
        except OSError as exc:
            for fd in (spec_r, spec_w, status_r, status_w, go_r, go_w):
                os.close(fd)
            raise StartError(f"cannot start the sandbox helper: {exc}") from exc
        finally:
            os.close(log_fd)
        os.close(spec_r)
        os.close(status_w)
        os.close(go_r)
        self = cls(proc)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(status_r, "rb", 0)
        )
        try:
            try:
                await loop.run_in_executor(None, _write_all, spec_w, spec.to_json())
            finally:
                os.close(spec_w)
            async with asyncio.timeout(SETUP_TIMEOUT):
                line = (await reader.readline()).decode(errors="replace").strip()
            if line != "ready":
                raise StartError(line.removeprefix("error ").strip() or "the sandbox helper exited during setup")
            try:
                await wire(proc.pid)
            except OSError as exc:
                raise StartError(f"cannot wire the pod network: {exc}") from exc
            _write_all(go_w, b"go")
            os.close(go_w)
            go_w = -1
            async with asyncio.timeout(SETUP_TIMEOUT):
                rest = (await reader.read()).decode(errors="replace").strip()
            if rest:
                raise StartError(rest.removeprefix("exec-error ").strip())
        except (StartError, TimeoutError, OSError) as exc:
            if go_w >= 0:
                os.close(go_w)
            await self.kill()
            if isinstance(exc, StartError):
                raise
            raise StartError(f"container setup failed: {exc or type(exc).__name__}") from exc
        finally:
            transport.close()
        return self

    async def wait(self) -> int:
        return exit_code(await self._proc.wait())

    def _group_signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def terminate(self, grace: float) -> int:
        """SIGTERM to the container process; SIGKILL to the process group after ``grace`` seconds."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(max(grace, 0.0)):
                    await asyncio.shield(self._proc.wait())
            except TimeoutError:
                self._group_signal(signal.SIGKILL)
        code = await self.wait()
        self._group_signal(signal.SIGKILL)  # whatever it left behind in its group
        return code

    async def kill(self) -> int:
        self._group_signal(signal.SIGKILL)
        code = await self.wait()
        return code

    def reap_group(self) -> None:
        """After the container process exited: nothing of its process group may outlive it."""
        self._group_signal(signal.SIGKILL)
