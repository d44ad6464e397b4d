"""Pod volumes materialised as local files, and the mount plan that puts them at the template's mount paths.

ConfigMap and Secret volumes become a directory of files (``items`` / ``defaultMode`` / ``mode`` / ``optional``
honoured, group-owned by ``fsGroup``), ``emptyDir`` an empty world-writable directory, ``downwardAPI`` a directory of
field values. The service-account directory (``token`` from the TokenRequest API, ``ca.crt``, ``namespace``) and the
kubelet-managed ``/etc/hosts`` and ``/etc/hostname`` are added like the kubelet adds them. A volume that cannot be
provided is a :class:`VolumeError` (the kubelet's ``FailedMount``): the pod waits in ``ContainerCreating``.
"""

from __future__ import annotations

import base64
import logging
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perpdex_dev.pod_runner.env import ContainerConfigError, ObjectGetter, PodFacts, field_value, resource_value
from perpdex_dev.pod_runner.models import Container, KeyToPath, PodSpec, Volume
from perpdex_dev.pod_runner.sandbox import ExposeSpec

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
log = logging.getLogger("perpdex.pod_runner.volumes")


class VolumeError(Exception):
    """A volume cannot be set up (``FailedMount``); the message never contains a Secret value."""


@dataclass(frozen=True)
class Mount:
    source: str  # host path
    target: str  # path inside the pod
    read_only: bool
    is_dir: bool


def _safe_join(root: Path, rel: str) -> Path:
    """``root/rel`` refusing absolute paths and ``..`` (as the API server's validation does)."""
    norm = posixpath.normpath(rel)
    if rel.startswith("/") or norm == ".." or norm.startswith("../"):
        raise VolumeError(f"invalid path {rel!r}: must be relative and may not contain '..'")
    return root / norm


def _write_file(path: Path, content: bytes, mode: int, gid: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        if gid is not None and os.geteuid() == 0:
            os.fchown(fd, 0, gid)
        os.fchmod(fd, mode & 0o777)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_token(sa_dir: Path, token: str) -> None:
    """Atomically (re)write the service-account token (the kubelet rotates it before it expires)."""
    _write_file(sa_dir / "token", token.encode(), 0o644, None)


def hosts_file(hostname: str, fqdn: str | None) -> str:
    lines = [
        "# Kubernetes-managed hosts file (perpdex local pod runner).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"127.0.0.1\t{fqdn}\t{hostname}" if fqdn else f"127.0.0.1\t{hostname}",
    ]
    return "\n".join(lines) + "\n"


class VolumeBuilder:
    """Materialises one pod's volumes under ``root`` (``root/volumes/<name>``, ``root/serviceaccount``, ...)."""

    def __init__(self, root: Path, get_object: ObjectGetter, namespace: str, fs_group: int | None) -> None:
        self.root = root
        self._get = get_object
        self._namespace = namespace
        self._gid = fs_group

    async def build(
        self,
        spec: PodSpec,
        container: Container,
        pod: PodFacts,
        *,
        token: str | None,
        ca_pem: str,
        hostname: str,
        fqdn: str | None,
    ) -> list[Mount]:
        """All mounts for ``container``, parents before children (the order to mount them in)."""
        volumes = {v.name: v for v in spec.volumes}
        dirs: dict[str, Path] = {}
        mounts: list[Mount] = []
        for vm in container.volume_mounts:
            volume = volumes.get(vm.name)
            if volume is None:
                raise VolumeError(f"volumeMount {vm.name!r}: no volume of that name in the pod spec")
            if vm.name not in dirs:
                dirs[vm.name] = await self._materialise(volume, container, pod)
            source = dirs[vm.name]
            if vm.sub_path:
                source = _safe_join(source, vm.sub_path)
                if not source.exists():
                    source.mkdir(parents=True, mode=0o777)
            read_only = vm.read_only or volume.config_map is not None or volume.secret is not None
            read_only = read_only or volume.downward_api is not None
            mounts.append(Mount(str(source), vm.mount_path, read_only, source.is_dir()))

        targets = {m.target.rstrip("/") for m in mounts}
        if token is not None and SERVICEACCOUNT_DIR not in targets:
            sa_dir = self.root / "serviceaccount"
            sa_dir.mkdir(mode=0o755, exist_ok=True)
            write_token(sa_dir, token)
            _write_file(sa_dir / "ca.crt", ca_pem.encode(), 0o644, None)
            _write_file(sa_dir / "namespace", self._namespace.encode(), 0o644, None)
            mounts.append(Mount(str(sa_dir), SERVICEACCOUNT_DIR, True, True))
        etc = self.root / "etc"
        _write_file(etc / "hosts", hosts_file(hostname, fqdn).encode(), 0o644, None)
        _write_file(etc / "hostname", f"{hostname}\n".encode(), 0o644, None)
        for name in ("hosts", "hostname"):
            if f"/etc/{name}" not in targets:
                mounts.append(Mount(str(etc / name), f"/etc/{name}", False, False))
        # parents first: a mount at /tmp must come before one at /tmp/x
        return sorted(mounts, key=lambda m: len(Path(m.target).parts))

    async def _materialise(self, volume: Volume, container: Container, pod: PodFacts) -> Path:
        unsupported = volume.unsupported_source
        if unsupported is not None:
            raise VolumeError(
                f"volume {volume.name!r}: {unsupported} volumes are not supported by the local pod runner"
            )
        target = self.root / "volumes" / volume.name
        target.mkdir(parents=True, exist_ok=True)
        if volume.empty_dir is not None:
            target.chmod(0o777)
            return target
        target.chmod(0o755)
        if volume.config_map is not None:
            cm = volume.config_map
            obj = await self._get("ConfigMap", cm.name)
            files = self._key_files(
                obj, "ConfigMap", cm.name, items=cm.items, default_mode=cm.default_mode, optional=bool(cm.optional)
            )
        elif volume.secret is not None:
            sec = volume.secret
            obj = await self._get("Secret", sec.secret_name)
            files = self._key_files(
                obj,
                "Secret",
                sec.secret_name,
                items=sec.items,
                default_mode=sec.default_mode,
                optional=bool(sec.optional),
            )
        else:
            assert volume.downward_api is not None
            files = {}
            for item in volume.downward_api.items:
                try:
                    if item.field_ref is not None:
                        value = field_value(item.field_ref, pod)
                    elif item.resource_field_ref is not None:
                        value = resource_value(item.resource_field_ref, container)
                    else:
                        raise VolumeError(f"volume {volume.name!r}: item {item.path!r} has no source")
                except ContainerConfigError as exc:
                    raise VolumeError(f"volume {volume.name!r}: {exc}") from exc
                files[item.path] = (value.encode(), item.mode or volume.downward_api.default_mode)
        for rel, (content, mode) in files.items():
            _write_file(_safe_join(target, rel), content, mode, self._gid)
        return target

    def _key_files(
        self,
        obj: Mapping[str, Any] | None,
        kind: str,
        name: str,
        *,
        items: list[KeyToPath],
        default_mode: int,
        optional: bool,
    ) -> dict[str, tuple[bytes, int]]:
        if obj is None:
            if optional:
                return {}
            raise VolumeError(f'{kind.lower()} "{name}" not found')
        data: dict[str, bytes] = {}
        if kind == "Secret":
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        else:
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        if not items:
            return {k: (v, default_mode) for k, v in data.items()}
        files: dict[str, tuple[bytes, int]] = {}
        for item in items:
            if item.key not in data:
                if optional:
                    continue
                raise VolumeError(
                    f"{kind.lower()} {self._namespace}/{name}: references non-existent config key {item.key}"
                )
            files[item.path] = (data[item.key], item.mode if item.mode is not None else default_mode)
        return files


def prepare_mountpoints(mounts: list[Mount]) -> list[str]:
    """Make every mount target creatable inside the pod without touching the host.

    A target inside another (directory) volume of the same pod is created in that volume's source directory. A
    target missing on the host gets its nearest existing ancestor returned: the sandbox overlays that directory
    inside the pod (a writable layer in the pod's own directory, like a container's) and creates the target there.
    Removing host directories would not do: a directory removed on the host is unmounted in every other mount
    namespace too, i.e. from under the pods of another runner. Only a target directly below ``/`` (which cannot be
    overlaid) is created on the host, once, and left there.
    """
    by_target = {m.target.rstrip("/") or "/": m for m in mounts}
    overlays: set[Path] = set()
    for mount in mounts:
        target = Path(mount.target)
        parent = _enclosing(target, by_target)
        if parent is not None:
            inner = Path(parent.source) / target.relative_to(parent.target)
            if not inner.exists():
                inner.parent.mkdir(parents=True, exist_ok=True)
                if mount.is_dir:
                    inner.mkdir(mode=0o755)
                else:
                    inner.touch(mode=0o644)
            continue
        if target.exists() or target.is_symlink():
            continue
        ancestor = next(a for a in target.parents if a.exists())
        if ancestor == Path("/"):
            log.warning("creating mount point %s on the host (a directory below / cannot be overlaid)", target)
            if mount.is_dir:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
            else:
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                target.touch(mode=0o644)
            continue
        overlays.add(ancestor)
    # an ancestor below another overlaid one is covered by it
    return sorted(str(a) for a in overlays if not any(o != a and o in a.parents for o in overlays))


def _enclosing(target: Path, by_target: Mapping[str, Mount]) -> Mount | None:
    for ancestor in target.parents:
        candidate = by_target.get(str(ancestor))
        if candidate is not None and candidate.is_dir:
            return candidate
    return None


def _traversable(path: Path, uid: int, gids: set[int]) -> bool:
    st = path.stat()
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    if st.st_gid in gids:
        return bool(st.st_mode & 0o010)
    return bool(st.st_mode & 0o001)


def plan_exposures(paths: list[str], uid: int, gids: set[int]) -> list[ExposeSpec]:
    """The runtime (interpreter, venv, project) must be reachable by the pod's user, as it is in the image. For each
    runtime path below a directory that user cannot traverse (e.g. /root, mode 0700), that topmost directory is
    covered in the pod by a tmpfs holding just the runtime paths (the rest of it is hidden from the pod)."""
    hides: dict[str, list[str]] = {}
    for raw in paths:
        path = Path(os.path.realpath(raw))
        if not path.exists():
            continue
        blocked = next((a for a in reversed(path.parents) if a != Path("/") and not _traversable(a, uid, gids)), None)
        if blocked is not None:
            hides.setdefault(str(blocked), []).append(str(path))
    plans = []
    for hide, keep in sorted(hides.items()):
        unique = sorted(set(keep))
        kept = [p for p in unique if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in unique)]
        plans.append(ExposeSpec(hide=hide, keep=kept))
    return plans
