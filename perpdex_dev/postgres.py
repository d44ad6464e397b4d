"""A throwaway PostgreSQL server from Debian's packages, in a temp dir on a free loopback port.

Used by the test fixtures and ``make demo``. PostgreSQL refuses to run as root: when we are root, the cluster
directory is handed to the ``postgres`` OS user (created by Debian's package) and the server runs as that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from perpdex_dev.control_plane import free_port

SUPERUSER = "perpdex"


class PostgresError(RuntimeError):
    pass


def pg_bindir() -> Path:
    """The newest installed server's bin dir (``PG_BINDIR`` overrides)."""
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresError(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): run `make system-deps` "
            "(apt-get install postgresql) or set PG_BINDIR"
        )
    return Path(found[-1]).parent


@dataclass
class PostgresCluster:
    """``start()`` → ``dsn``; ``stop()`` / ``start()`` again keep data and port (outage tests); ``destroy()`` removes it."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="perpdex-pg-")))
    port: int = field(default_factory=free_port)
    bindir: Path = field(default_factory=pg_bindir)
    _initialised: bool = False

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self) -> tuple[list[str], dict[str, str]]:
        """Prefix to run a command as the cluster owner (``postgres`` when we are root)."""
        if os.geteuid() != 0:
            return [], {}
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresError("running as root needs the `postgres` OS user (Debian's postgresql package)") from exc
        return ["runuser", "-u", "postgres", "--"], {}

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        prefix, _ = self._as_owner()
        out = subprocess.run(prefix + argv, capture_output=True, text=True, check=False, cwd="/")
        if out.returncode != 0:
            raise PostgresError(f"{Path(argv[0]).name} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
        return out

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            self.workdir.chmod(0o700)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
                "--no-sync",
            ]
        )
        self._initialised = True

    def start(self, timeout: float = 60.0) -> None:
        if not self._initialised:
            self.init()
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.workdir / "postgres.log"),
                "-o",
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL on port {self.port} not ready after {timeout:.0f}s")

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            # a server still starting has no postmaster.pid yet (a SIGTERM during `pg_ctl start`): find it by its
            # data directory, or it outlives the session on a deleted directory
            self._kill_servers()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _servers(self) -> list[int]:
        """Pids of server processes started on this cluster's data directory (``postgres -D <datadir>``)."""
        needle = str(self.datadir).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and Path(argv[0].decode(errors="replace")).name in {"postgres", "postmaster"} and needle in argv:
                pids.append(int(entry.name))
        return pids

    def _kill_servers(self, grace: float = 5.0) -> None:
        pids = self._servers()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = [p for p in pids if Path(f"/proc/{p}").exists()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its DSN."""
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._psql("postgres", f'CREATE DATABASE "{name}"')
        return self.dsn_for(name)

    def _psql(self, database: str, sql: str) -> str:
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn_for(database), "-c", sql],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise PostgresError(f"psql failed: {out.stderr.strip()}")
        return out.stdout
