"""Pure parts of the pod runner (no API server): ``$(VAR)`` expansion as Kubernetes does it, quantities, the
fallback rewrites, the host-listener scan, the sandbox spec's checks and the runtime exposure plan."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from perpdex_dev.pod_runner.env import expand, parse_quantity
from perpdex_dev.pod_runner.net import host_listeners, rewrite_port_args
from perpdex_dev.pod_runner.pod import _rewrite_path
from perpdex_dev.pod_runner.sandbox import SandboxError, SandboxSpec
from perpdex_dev.pod_runner.settings import image_paths
from perpdex_dev.pod_runner.volumes import plan_exposures
from perpdex_dev.pod_runner.workload import template_hash

CTX = {"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}


# cases from k8s.io/kubernetes/third_party/forked/golang/expansion/expand_test.go
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)$(VAR_B)", "AB"),
        ("$(VAR_EMPTY)", ""),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$$(VAR_A)", "$(VAR_A)"),
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("$(VAR_A", "$(VAR_A"),
        ("$VAR_A", "$VAR_A"),
        ("$(VAR_A)$", "A$"),
        ("$()", "$()"),
        ("${VAR_A}", "${VAR_A}"),
        ("$(VAR_A)-$$(VAR_B)-$(VAR_B)", "A-$(VAR_B)-B"),
        ("no refs", "no refs"),
    ],
)
def test_expand_matches_kubernetes(text: str, want: str) -> None:
    assert expand(text, CTX) == want


def test_expand_first_context_wins() -> None:
    assert expand("$(X)", {"X": "declared"}, {"X": "service"}) == "declared"
    assert expand("$(Y)", {"X": "declared"}, {"Y": "service"}) == "service"


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("128Mi", Decimal(128 * 1024 * 1024)), ("1k", Decimal(1000))],
)
def test_quantities(quantity: str, value: Decimal) -> None:
    assert parse_quantity(quantity) == value


def test_port_flags_rewritten_only_for_container_ports() -> None:
    argv = ["perpdex", "bot", "--config", "/etc/perpdex/config.yaml", "--metrics-port", "8080", "--port=8080", "8080"]
    assert rewrite_port_args(argv, {8080: 41000}) == [
        "perpdex",
        "bot",
        "--config",
        "/etc/perpdex/config.yaml",
        "--metrics-port",
        "41000",
        "--port=41000",
        "8080",
    ]
    assert rewrite_port_args(["--metrics-port", "9090"], {8080: 41000}) == ["--metrics-port", "9090"]


def test_mount_paths_rewritten_in_the_fallback() -> None:
    mapping = [("/etc/perpdex", "/state/ns/pod/volumes/config"), ("/tmp", "/state/ns/pod/volumes/tmp")]
    assert _rewrite_path("/etc/perpdex/config.yaml", mapping) == "/state/ns/pod/volumes/config/config.yaml"
    assert _rewrite_path("--config=/etc/perpdex/config.yaml", mapping) == (
        "--config=/state/ns/pod/volumes/config/config.yaml"
    )
    assert _rewrite_path("/etc/perpdexx", mapping) == "/etc/perpdexx"
    assert _rewrite_path("/tmp", mapping) == "/state/ns/pod/volumes/tmp"


def test_host_listeners_sees_a_loopback_listener_and_not_a_closed_port() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert host_listeners().get(port) == "127.0.0.1"
    assert port not in host_listeners()


def test_sandbox_spec_round_trip_and_checks() -> None:
    spec = SandboxSpec(argv=["perpdex", "bot"], env={"A": "1"}, uid=10001, groups=[10001], mount_ns=True)
    assert SandboxSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SandboxError):
        SandboxSpec.from_json(b'{"argv": [], "env": {}}')
    with pytest.raises(SandboxError):
        SandboxSpec.from_json(b'{"argv": ["x"], "env": {"A": 1}}')
    with pytest.raises(SandboxError):
        SandboxSpec.from_json(b'{"argv": ["x"], "env": {}, "uid": true}')


def test_runtime_exposure_covers_only_untraversable_ancestors() -> None:
    base = Path(tempfile.mkdtemp(prefix="pod-runner-expose-"))  # pytest's tmp_path sits below a 0700 directory
    try:
        base.chmod(0o755)
        private = base / "home"
        runtime = private / "lib" / "python"
        runtime.mkdir(parents=True)
        public = base / "srv" / "app"
        public.mkdir(parents=True)
        private.chmod(0o700)
        plans = plan_exposures([str(runtime), str(runtime / ".."), str(public)], uid=10001, gids={10001})
        assert [(p.hide, p.keep) for p in plans] == [(str(private), [str(private / "lib")])]
        assert plan_exposures([str(runtime)], uid=0, gids={0}) == []
        assert plan_exposures([str(runtime)], uid=os.stat(private).st_uid, gids=set()) == []  # the owner may enter
    finally:
        shutil.rmtree(base)


def test_template_hash_is_stable_and_sensitive() -> None:
    a = {"metadata": {"annotations": {"perpdex.io/config-hash": "1"}}, "spec": {"containers": [{"name": "x"}]}}
    b = {"spec": {"containers": [{"name": "x"}]}, "metadata": {"annotations": {"perpdex.io/config-hash": "1"}}}
    c = {"metadata": {"annotations": {"perpdex.io/config-hash": "2"}}, "spec": {"containers": [{"name": "x"}]}}
    assert template_hash(a) == template_hash(b) != template_hash(c)
    assert len(template_hash(a)) == 10


def test_the_image_keeps_the_project_visible() -> None:
    """A pod's /tmp emptyDir covers a checkout under /tmp (CI's fresh clone): the project folder must be among the
    paths re-exposed inside the sandbox, or ``perpdex`` cannot import ``bot_runtime`` there."""
    paths = [Path(p) for p in image_paths()]
    for package in ("bot_runtime", "funding_service", "perpdex_dev", "operator/perpdex_operator"):
        assert any((p / package / "__init__.py").is_file() for p in paths), package
