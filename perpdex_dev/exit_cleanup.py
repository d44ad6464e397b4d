"""Stop at exit what a test session or benchmark started, even when it is killed with SIGTERM (a CI timeout, `kill`,
`timeout(1)`) or SIGHUP, not only on Ctrl-C.

Python's default SIGTERM ends the process on the spot: no ``finally``, no pytest fixture teardown, no ``atexit``. The
etcd, kube-apiserver, PostgreSQL and service processes it started (each in a session of its own, so the signal does
not reach them) would live on. Two parts:

- :func:`unwind_on_sigterm` makes SIGTERM and SIGHUP raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C does:
  ``finally`` blocks and pytest's teardown run, then the interpreter exits normally, running ``atexit``. A second
  signal while that runs is ignored (SIGKILL still ends the process).
- :func:`stop_at_exit` registers a stop function (``ControlPlane.stop``, ``PostgresCluster.destroy``, a process
  group's :func:`terminate_group`) that runs at interpreter exit unless its owner ran it and said so (the returned
  ``done``): it covers what was still starting when the signal came, before any ``try`` could own it.

Never for detached stacks (``perpdex dev control-plane up``, ``make demo``): they are meant to outlive the command.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

_pending: dict[int, Callable[[], None]] = {}
_keys = itertools.count()


def stop_at_exit(stop: Callable[[], None]) -> Callable[[], None]:
    """Run ``stop`` at interpreter exit, once, unless the returned ``done`` was called first (after the owner stopped
    it itself). Stops run newest first, like the ``finally`` blocks they stand in for."""
    key = next(_keys)
    _pending[key] = stop

    def done() -> None:
        _pending.pop(key, None)

    return done


def run_pending() -> None:
    """Run every registered stop now, newest first; one failing never keeps the others from running."""
    while _pending:
        stop = _pending.pop(max(_pending))
        try:
            stop()
        except Exception as exc:  # at exit: say it, go on
            print(f"perpdex: cleanup at exit failed: {type(exc).__name__}: {exc}", file=sys.stderr)


atexit.register(run_pending)


def unwind_on_sigterm() -> None:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (main thread only; a handler someone else set is kept)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # let the cleanup finish
    raise KeyboardInterrupt(f"{signal.Signals(signum).name}: stopping what was started")


def terminate_group(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group led by ``pid`` (a child started with ``start_new_session``), wait up to ``grace``
    seconds for its leader, then SIGKILL the whole group (children that outlived their leader too)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    gone = False
    while not gone and time.monotonic() < deadline:
        try:
            gone = os.waitpid(pid, os.WNOHANG)[0] == pid
        except ChildProcessError:  # not our child (a detached `up`): poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                gone = True
        if not gone:
            time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if not gone:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # reap the killed leader
