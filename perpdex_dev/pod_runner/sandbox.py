"""The first process of every local pod: sets up the pod's private namespaces, then ``exec``s the container's command.

Run by the pod runner as ``python -m perpdex_dev.pod_runner.sandbox SPEC_FD STATUS_FD GO_FD``:

1. read the :class:`SandboxSpec` (JSON) from ``SPEC_FD``;
2. ``unshare`` a mount namespace (propagation private), a network namespace (loopback only: the runner forwards the
   host's loopback services into it and the pod's ports out of it) and a UTS namespace (hostname = the pod's);
3. bind-mount every volume at its ``mountPath`` (read-only where the kubelet mounts read-only; a mount point missing
   on the host is created in a private overlay of its parent directory), then remount ``/`` read-only for
   ``readOnlyRootFilesystem``;
4. report ``ready`` on ``STATUS_FD`` and wait for ``go`` on ``GO_FD`` (the runner wires the network meanwhile);
5. drop to ``runAsUser``/``runAsGroup`` (+ ``fsGroup``, ``supplementalGroups``), ``no_new_privs`` when
   ``allowPrivilegeEscalation: false``, ``chdir`` to ``workingDir``, and ``exec`` the exact argv with the exact env.
   ``STATUS_FD`` is close-on-exec: EOF means the exec succeeded, an ``exec-error`` line that it did not.

The process keeps its PID through the exec, so the runner's SIGTERM reaches the container process itself (like PID 1
of a container). ``--probe`` checks that this machine permits the namespaces at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
MNT_DETACH = 0x2
EXEC_FAILED = 128


@dataclass(frozen=True)
class MountSpec:
    source: str
    target: str
    read_only: bool
    is_dir: bool


@dataclass(frozen=True)
class ExposeSpec:
    """Inside the pod: cover ``hide`` (a directory the pod's user cannot traverse, e.g. /root) with an empty
    read-only tmpfs holding only ``keep`` (read-only bind mounts of the runtime: interpreter, venv, project)."""

    hide: str
    keep: list[str]


@dataclass(frozen=True)
class SandboxSpec:
    """What the helper does. Crosses a pipe as JSON; checked field by field on the way in (this helper does not
    import pydantic: it runs once per container start and the import alone costs ~0.15 s of CPU)."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str = "/"
    mounts: list[MountSpec] = field(default_factory=list)
    exposures: list[ExposeSpec] = field(default_factory=list)
    # the "image" (interpreter, virtualenv, project): kept visible even where a volume (an emptyDir at /tmp, say)
    # is mounted over the directory it lives in on this machine
    runtime: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)  # directories to give a private writable layer
    scratch_dir: str = ""  # where those layers live (the pod's own directory)
    mount_ns: bool = False
    net_ns: bool = False
    hostname: str = ""
    read_only_root: bool = False
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = field(default_factory=list)
    no_new_privs: bool = False
    runner_pid: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SandboxSpec:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise SandboxError("sandbox spec: not an object")

        def typed(name: str, kind: type | tuple[type, ...], default: object = None) -> Any:
            value = doc.get(name, default)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, type(None)))):
                raise SandboxError(f"sandbox spec: {name} has the wrong type")
            return value

        argv = typed("argv", list)
        env = typed("env", dict)
        groups = typed("groups", list, [])
        mounts_raw = typed("mounts", list, [])
        if not argv or not all(isinstance(a, str) for a in argv):
            raise SandboxError("sandbox spec: argv must be a non-empty list of strings")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise SandboxError("sandbox spec: env must map strings to strings")
        if not all(isinstance(g, int) and not isinstance(g, bool) for g in groups):
            raise SandboxError("sandbox spec: groups must be integers")
        mounts = []
        for m in mounts_raw:
            if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in ("source", "target")):
                raise SandboxError("sandbox spec: a mount needs a source and a target")
            mounts.append(MountSpec(m["source"], m["target"], bool(m.get("read_only")), bool(m.get("is_dir"))))
        exposures = []
        for e in typed("exposures", list, []):
            keep = e.get("keep") if isinstance(e, dict) else None
            if (
                not isinstance(e.get("hide"), str)
                or not isinstance(keep, list)
                or not all(isinstance(k, str) for k in keep)
            ):
                raise SandboxError("sandbox spec: an exposure needs hide and keep")
            exposures.append(ExposeSpec(e["hide"], keep))
        return cls(
            argv=argv,
            env=env,
            working_dir=typed("working_dir", str, "/"),
            mounts=mounts,
            exposures=exposures,
            runtime=_strings(typed("runtime", list, []), "runtime"),
            overlays=_strings(typed("overlays", list, []), "overlays"),
            scratch_dir=typed("scratch_dir", str, ""),
            mount_ns=typed("mount_ns", bool, False),
            net_ns=typed("net_ns", bool, False),
            hostname=typed("hostname", str, ""),
            read_only_root=typed("read_only_root", bool, False),
            uid=typed("uid", (int, type(None))),
            gid=typed("gid", (int, type(None))),
            groups=groups,
            no_new_privs=typed("no_new_privs", bool, False),
            runner_pid=typed("runner_pid", int, 0),
        )


class SandboxError(Exception):
    pass


def _strings(values: list[Any], name: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise SandboxError(f"sandbox spec: {name} must be strings")
    return values


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)} (errno {err})")


def unshare(flags: int) -> None:
    _check(_libc().unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = _libc()
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _bind(fd: int, target: str, read_only: bool) -> None:
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def layer(directory: str, scratch: str) -> None:
    """Overlay ``directory`` inside the pod with a writable layer in ``scratch`` (the host's directory is unchanged),
    so mount points missing on the host can be created for this pod alone."""
    upper, work = os.path.join(scratch, "upper"), os.path.join(scratch, "work")
    os.makedirs(upper, mode=0o755, exist_ok=True)
    os.makedirs(work, mode=0o700, exist_ok=True)
    if any(c in p for p in (directory, upper, work) for c in ",:"):
        raise SandboxError(f"cannot overlay {directory}: a path contains ',' or ':'")
    mount("overlay", directory, "overlay", 0, f"lowerdir={directory},upperdir={upper},workdir={work}")


def expose(exposure: ExposeSpec) -> None:
    keep = [os.open(p, os.O_PATH) for p in exposure.keep]
    try:
        mount("tmpfs", exposure.hide, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
        for fd, path in zip(keep, exposure.keep, strict=True):
            inner = os.path.join(exposure.hide, os.path.relpath(path, exposure.hide))
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(inner, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(inner), mode=0o755, exist_ok=True)
                os.close(os.open(inner, os.O_CREAT | os.O_WRONLY, 0o644))
            _bind(fd, inner, read_only=True)
        mount(None, exposure.hide, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    finally:
        for fd in keep:
            os.close(fd)


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def set_hostname(name: str) -> None:
    raw = name.encode()
    _check(_libc().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def setup_namespaces(spec: SandboxSpec) -> None:
    flags = (CLONE_NEWNS if spec.mount_ns else 0) | (CLONE_NEWNET | CLONE_NEWUTS if spec.net_ns else 0)
    if not flags:
        return
    unshare(flags)
    if spec.net_ns:
        loopback_up()
        if spec.hostname:
            set_hostname(spec.hostname)
    if not spec.mount_ns:
        return
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # open every source first: a mount at /tmp (or a hidden /root) may cover sources that live there
    sources = [os.open(m.source, os.O_PATH) for m in spec.mounts]
    covered = [p for p in spec.runtime if any(_under(p, m.target) for m in spec.mounts)]
    runtime = [(os.open(p, os.O_PATH), p) for p in covered]
    try:
        for exposure in spec.exposures:
            expose(exposure)
        for i, directory in enumerate(spec.overlays):
            layer(directory, os.path.join(spec.scratch_dir, str(i)))
        for fd, m in zip(sources, spec.mounts, strict=True):
            if not os.path.lexists(m.target):  # inside a layer: created in the pod's own writable layer
                if m.is_dir:
                    os.makedirs(m.target, mode=0o755)
                else:
                    os.makedirs(os.path.dirname(m.target), mode=0o755, exist_ok=True)
                    os.close(os.open(m.target, os.O_CREAT | os.O_WRONLY, 0o644))
            _bind(fd, m.target, m.read_only)
        for fd, path in runtime:  # put the image back where a volume covered it
            os.makedirs(path, mode=0o755, exist_ok=True)
            _bind(fd, path, read_only=True)
        if spec.read_only_root:
            # last: a bind mount made from a read-only mount would be read-only too (emptyDir must stay writable)
            for directory in spec.overlays:
                mount(None, directory, None, MS_REMOUNT | MS_RDONLY)
            mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    finally:
        for fd in [*sources, *(fd for fd, _ in runtime)]:
            os.close(fd)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def drop_privileges(spec: SandboxSpec) -> None:
    if spec.no_new_privs:
        _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if os.geteuid() != 0:
        return
    if spec.uid is None and spec.gid is None and not spec.groups:
        return
    gid = spec.gid if spec.gid is not None else 0
    os.setgroups(sorted(set(spec.groups)))
    os.setgid(gid)
    if spec.uid is not None:
        os.setuid(spec.uid)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _say(fd: int, line: str) -> None:
    os.write(fd, (line.replace("\n", " ") + "\n").encode())


def run(spec_fd: int, status_fd: int, go_fd: int) -> int:
    os.set_inheritable(status_fd, False)  # close-on-exec: EOF tells the runner the exec happened
    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        spec = SandboxSpec.from_json(_read_all(spec_fd))
    except (SandboxError, ValueError) as exc:
        _say(status_fd, f"error {exc}")
        return 1
    os.close(spec_fd)
    if spec.runner_pid and os.getppid() != spec.runner_pid:
        return 1  # the runner is already gone
    try:
        setup_namespaces(spec)
    except (SandboxError, OSError) as exc:
        _say(status_fd, f"error {exc}")
        return 1
    _say(status_fd, "ready")
    go = _read_all(go_fd)
    os.close(go_fd)
    if go.strip() != b"go":
        return 1
    try:
        drop_privileges(spec)
        # a change of uid/gid clears the parent-death signal: set it again (it survives the exec)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if spec.runner_pid and os.getppid() != spec.runner_pid:
            return 1
        os.chdir(spec.working_dir or "/")
    except (SandboxError, OSError) as exc:
        _say(status_fd, f"exec-error {exc}")
        return EXEC_FAILED
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        os.execvpe(spec.argv[0], spec.argv, spec.env)  # noqa: S606 - exactly the container's argv, no shell
    except OSError as exc:
        _say(status_fd, f"exec-error exec {spec.argv[0]!r}: {exc.strerror or exc}")
    return EXEC_FAILED


def probe() -> int:
    """Exit 0 when a private mount + network + UTS namespace with a bind mount works here."""
    try:
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as dst:
            mount(src, dst, None, MS_BIND)
            mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            _check(_libc().umount2(dst.encode(), MNT_DETACH), f"umount {dst}")
        loopback_up()
        set_hostname("perpdex-probe")
    except (SandboxError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--probe"]:
        return probe()
    if len(argv) != 3:
        print("usage: python -m perpdex_dev.pod_runner.sandbox SPEC_FD STATUS_FD GO_FD | --probe", file=sys.stderr)
        return 2
    spec_fd, status_fd, go_fd = (int(a) for a in argv)
    with contextlib.suppress(BrokenPipeError):
        return run(spec_fd, status_fd, go_fd)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
