"""A container's environment, command and args resolved the way the kubelet does it.

- ``envFrom`` first (ConfigMap ``data`` / Secret ``data``, with ``prefix``), then ``env`` entries in order, overriding;
- ``value`` expands ``$(VAR)`` against the variables declared so far and the service variables; ``$$`` escapes;
  an unknown reference stays as written (Kubernetes' ``expansion`` package, ported below);
- ``valueFrom``: ``configMapKeyRef`` / ``secretKeyRef`` (``optional`` honoured: a missing optional object or key
  leaves the variable out, a missing required one is a *container config error* and the container does not start),
  ``fieldRef`` (metadata.name/namespace/uid/labels/annotations, spec.nodeName, spec.serviceAccountName,
  status.podIP(s)/hostIP(s)), ``resourceFieldRef`` (limits/requests, node capacity when no limit is set);
- ``command`` and ``args`` expand ``$(VAR)`` against the final container environment.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from perpdex_dev.pod_runner.models import Container, ObjectFieldSelector, ResourceFieldSelector

# (kind "ConfigMap"|"Secret", name) -> the object, or None when it does not exist
ObjectGetter = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]


class ContainerConfigError(Exception):
    """The container cannot be configured (the kubelet's ``CreateContainerConfigError``); ``str()`` is the reason
    shown in the pod's status. It never contains a Secret value."""


@dataclass
class PodFacts:
    """What ``fieldRef`` / downward API items can read about the pod."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_name: str = ""
    service_account: str = ""
    pod_ip: str = "127.0.0.1"
    host_ip: str = "127.0.0.1"


# $(VAR) expansion (k8s.io/kubernetes/third_party/forked/golang/expansion) -----------------------------------------
def expand(text: str, *contexts: Mapping[str, str]) -> str:
    """``$(NAME)`` → the first context holding NAME, else left as ``$(NAME)``; ``$$`` → ``$``."""

    def mapping(name: str) -> str:
        for ctx in contexts:
            if name in ctx:
                return ctx[name]
        return f"$({name})"

    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable_name(text[cursor + 1 :])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_variable_name(rest: str) -> tuple[str, bool, int]:
    if rest[0] == "$":
        return "$", False, 1
    if rest[0] == "(":
        closer = rest.find(")", 1)
        if closer != -1:
            return rest[1:closer], True, closer + 1
        return "$(", False, 1
    return "$" + rest[0], False, 1


# fieldRef / resourceFieldRef ---------------------------------------------------------------------------------------
def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _format_map(values: Mapping[str, str]) -> str:
    return "\n".join(f"{k}={_quote(values[k])}" for k in sorted(values))


def field_value(selector: ObjectFieldSelector, pod: PodFacts) -> str:
    path = selector.field_path
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": pod.service_account,
        "status.podIP": pod.pod_ip,
        "status.podIPs": pod.pod_ip,
        "status.hostIP": pod.host_ip,
        "status.hostIPs": pod.host_ip,
    }
    if path in simple:
        return simple[path]
    if path == "metadata.labels":
        return _format_map(pod.labels)
    if path == "metadata.annotations":
        return _format_map(pod.annotations)
    for prefix, values in (("metadata.labels", pod.labels), ("metadata.annotations", pod.annotations)):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return values.get(path[len(prefix) + 2 : -2], "")
    raise ContainerConfigError(f"unsupported fieldPath {path!r}")


_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(1024),
    "Mi": Decimal(1024) ** 2,
    "Gi": Decimal(1024) ** 3,
    "Ti": Decimal(1024) ** 4,
    "Pi": Decimal(1024) ** 5,
    "Ei": Decimal(1024) ** 6,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}


def parse_quantity(value: str | int) -> Decimal:
    """A Kubernetes resource quantity (``500m``, ``128Mi``, ``1e3``, ``2``) as a Decimal."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)]:
            try:
                return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
            except InvalidOperation:
                break
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ContainerConfigError(f"invalid resource quantity {text!r}") from exc


def _node_capacity(resource: str) -> Decimal:
    if resource.endswith("cpu"):
        return Decimal(os.cpu_count() or 1)
    if resource.endswith("memory"):
        return Decimal(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    raise ContainerConfigError(f"unsupported resource {resource!r} in resourceFieldRef")


def resource_value(selector: ResourceFieldSelector, container: Container) -> str:
    kind, _, name = selector.resource.partition(".")
    if kind not in {"limits", "requests"} or name not in {"cpu", "memory", "ephemeral-storage"}:
        raise ContainerConfigError(f"unsupported resource {selector.resource!r} in resourceFieldRef")
    section = container.resources.get(kind, {})
    if name in section:
        amount = parse_quantity(section[name])
    elif kind == "requests" and name in container.resources.get("limits", {}):
        amount = parse_quantity(container.resources["limits"][name])
    elif kind == "requests":
        amount = Decimal(0)
    else:
        amount = _node_capacity(name)
    divisor = parse_quantity(selector.divisor if selector.divisor not in (None, "", 0) else "1")
    return str(math.ceil(amount / divisor))


# the container environment -----------------------------------------------------------------------------------------
@dataclass
class ResolvedContainer:
    env: dict[str, str]  # the container's declared environment (envFrom + env), in kubelet order
    argv: list[str]  # command + args, expanded


class EnvResolver:
    """Resolves one container's environment; ConfigMaps and Secrets are read once per resolution."""

    def __init__(self, get_object: ObjectGetter, namespace: str) -> None:
        self._get = get_object
        self._namespace = namespace
        self._cache: dict[tuple[str, str], Mapping[str, Any] | None] = {}

    async def _object(self, kind: str, name: str) -> Mapping[str, Any] | None:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = await self._get(kind, name)
        return self._cache[key]

    async def _data(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        obj = await self._object(kind, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        raw: Mapping[str, str] = obj.get("data") or {}
        if kind == "Secret":
            return {k: base64.b64decode(v).decode("utf-8", errors="surrogateescape") for k, v in raw.items()}
        return dict(raw)

    async def resolve(
        self,
        container: Container,
        pod: PodFacts,
        service_env: Mapping[str, str],
        entrypoint: list[str],
    ) -> ResolvedContainer:
        env: dict[str, str] = {}
        for source in container.env_from:
            ref = source.config_map_ref or source.secret_ref
            if ref is None:
                continue
            kind = "ConfigMap" if source.config_map_ref is not None else "Secret"
            data = await self._data(kind, ref.name, bool(ref.optional))
            for key, value in (data or {}).items():
                env[source.prefix + key] = value

        for var in container.env:
            if var.value:
                env[var.name] = expand(var.value, env, service_env)
                continue
            src = var.value_from
            if src is None:
                env[var.name] = ""
                continue
            if src.field_ref is not None:
                env[var.name] = field_value(src.field_ref, pod)
            elif src.resource_field_ref is not None:
                env[var.name] = resource_value(src.resource_field_ref, container)
            elif src.config_map_key_ref is not None or src.secret_key_ref is not None:
                key_ref = src.config_map_key_ref or src.secret_key_ref
                assert key_ref is not None
                kind = "ConfigMap" if src.config_map_key_ref is not None else "Secret"
                optional = bool(key_ref.optional)
                data = await self._data(kind, key_ref.name, optional)
                if data is None:
                    continue
                if key_ref.key not in data:
                    if optional:
                        continue
                    raise ContainerConfigError(
                        f"couldn't find key {key_ref.key} in {kind} {self._namespace}/{key_ref.name}"
                    )
                env[var.name] = data[key_ref.key]
            else:
                env[var.name] = ""

        full = {**service_env, **env}
        command = container.command or entrypoint
        args = container.args
        argv = [expand(part, full) for part in command] + [expand(part, full) for part in args]
        if not argv:
            raise ContainerConfigError("no command specified (the container has neither command nor args)")
        return ResolvedContainer(env=env, argv=argv)
