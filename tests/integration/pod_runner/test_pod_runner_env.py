"""The pod runner runs a template's container with exactly its command, args and env, resolved as the kubelet does,
its volumes at their mount paths and a working service-account token -- against the real API server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bot_runtime.kube import resource_path
from tests.integration.pod_runner.conftest import AppNamespace
from tests.integration.pod_runner.pod_runner_helpers import (
    BIN,
    Runner,
    container,
    container_status,
    create,
    get_pod,
    host_paths,
    reports,
    statefulset,
    text_of,
    wait_for,
    workload_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

IMAGE_ENV = {"PATH", "HOSTNAME", "HOME", "LANG"}


def field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


async def test_exact_command_args_env_volumes_and_token(kube, app_ns: AppNamespace, runner: Runner) -> None:  # type: ignore[no-untyped-def]
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    env = [
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("POD_IP", "status.podIP"),
        field_env("NODE", "spec.nodeName"),
        field_env("APP_LABEL", "metadata.labels['app']"),
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "API_KEY"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
        {"name": "NO_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "ABSENT", "optional": True}}},
        {"name": "NO_MAP", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "X", "optional": True}}},
        {"name": "GREETING", "value": "hi $(POD_NAME) $$(POD_NAME) $(UNDEFINED)"},
        {"name": "LEVEL", "value": "override-$(LEVEL)"},  # a later entry wins, and sees the earlier one
        {"name": "WHOAMI", "value": "1"},
    ]
    env_from = [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}]
    args = ["--level=$(LEVEL)", "$(POD_NAME)", "$$(POD_NAME)", "$(UNDEFINED)"]
    host_before = host_paths("/opt/app", "/etc/app")
    await create(client, statefulset("app", ns, container(marker, env=env, env_from=env_from, args=args)))

    async def reported() -> dict[str, Any] | None:
        found = reports(runner.pod_log("app-0"))
        return found[0] if found else None

    report = await wait_for("the app's report", reported, timeout=90)

    # command + args exactly, $(VAR) expanded against the container env, $$ escaped, unknown refs kept
    assert report["cmdline"] == [
        "python",
        "/opt/app/pod_runner_app.py",
        "--port",
        "8080",
        f"--marker={marker}",
        "--level=override-debug",
        "app-0",
        "$(POD_NAME)",
        "$(UNDEFINED)",
    ]
    got = report["env"]
    expected = {
        "POD_NAME": "app-0",
        "POD_NAMESPACE": ns,
        "POD_IP": "127.0.0.1",
        "NODE": "perpdex-pod-runner",
        "APP_LABEL": "app",
        "API_KEY": app_ns.secret_value,
        "LEVEL": "override-debug",
        "GREETING": "hi app-0 $(POD_NAME) $(UNDEFINED)",
        "WHOAMI": "1",
        "CFG_LEVEL": "debug",
        "CFG_config.yaml": "strategy: grid\nticker: BTC\n",
        "HOSTNAME": "app-0",
    }
    assert {k: got.get(k) for k in expected} == expected
    assert "NO_KEY" not in got and "NO_MAP" not in got  # optional and missing: left out
    # nothing of the runner's own environment leaks in: only image env, the kubernetes service env and the declared
    declared = {e["name"] for e in env} | {"CFG_LEVEL", "CFG_config.yaml"}
    service = {k for k in got if k.startswith("KUBERNETES_")}
    assert set(got) == IMAGE_ENV | service | (declared - {"NO_KEY", "NO_MAP"})
    server = kube.config().server
    assert f"https://{got['KUBERNETES_SERVICE_HOST']}:{got['KUBERNETES_SERVICE_PORT']}" == server
    assert got["PATH"].split(":")[0] == str(BIN)  # `perpdex`/`python` resolve to the project's virtualenv

    # securityContext: the template's user, group and fsGroup; read-only root; the emptyDir /tmp is writable
    assert (report["uid"], report["gid"]) == (10001, 10001)
    assert 10001 in report["groups"]
    assert report["root_writable"] is not True
    assert report["tmp_writable"] is True
    assert report["hostname"] == "app-0"

    # volumes at their mount paths; the service-account files where in-cluster config looks for them
    files = report["files"]
    assert files["/etc/app/config.yaml"] == "strategy: grid\nticker: BTC\n"
    assert files["/etc/app/LEVEL"] == "debug"
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert files[f"{sa}/namespace"] == ns
    ca = kube.config().ca_data or text_of(kube.config().ca_file)
    assert files[f"{sa}/ca.crt"].strip() == ca.strip()
    assert files[f"{sa}/token"].count(".") == 2  # a JWT from the TokenRequest API
    # ... and the token works: in-cluster config from inside the pod authenticates as the pod's ServiceAccount
    assert report["whoami"] == f"system:serviceaccount:{ns}:app"

    # mount points missing on the host were made in the pod's private layer: the host is unchanged
    assert host_paths(*host_before) == host_before

    # the Pod object mirrors the process
    pod = await get_pod(client, ns, "app-0")
    assert pod is not None
    sts = await client.get(workload_path("StatefulSet", ns, "app"))
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "StatefulSet",
        "app",
        sts["metadata"]["uid"],
        True,
    )
    assert pod["metadata"]["labels"]["app"] == "app"
    assert pod["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"]
    assert pod["metadata"]["annotations"]["perpdex.io/config-hash"] == "one"
    assert pod["spec"]["containers"][0]["command"] == ["python", "/opt/app/pod_runner_app.py"]
    assert pod["spec"]["nodeName"] == "perpdex-pod-runner"
    assert pod["status"]["podIP"] == "127.0.0.1"
    assert container_status(pod)["state"].get("running") is not None

    # no Secret value in the runner's own log
    assert app_ns.secret_value not in runner.log()


async def test_missing_required_key_blocks_the_start_until_it_exists(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    env = [
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "API_KEY"}}},
        {"name": "PASSPHRASE", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSPHRASE"}}},
    ]
    await create(client, statefulset("app", ns, container(f"m-{uuid.uuid4().hex}", env=env)))

    async def config_error() -> dict[str, Any] | None:
        pod = await get_pod(client, ns, "app-0")
        waiting = container_status(pod).get("state", {}).get("waiting") if pod else None
        return waiting if waiting and waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await wait_for("CreateContainerConfigError", config_error)
    assert waiting["message"] == f"couldn't find key PASSPHRASE in Secret {ns}/creds"
    events = await client.list(resource_path("v1", "events", ns), field_selector="involvedObject.name=app-0")
    assert any(e["reason"] == "Failed" and "PASSPHRASE" in e["message"] for e in events["items"])
    assert reports(runner.pod_log("app-0")) == []  # the container never started
    sts = await client.get(workload_path("StatefulSet", ns, "app"))
    assert not sts["status"].get("readyReplicas")

    # the kubelet keeps retrying: once the key exists, the container starts
    patch = {"stringData": {"PASSPHRASE": "later"}}
    await client.patch(resource_path("v1", "secrets", ns, "creds"), patch)

    async def started() -> dict[str, Any] | None:
        found = reports(runner.pod_log("app-0"))
        return found[0] if found else None

    report = await wait_for("the container to start", started)
    assert report["env"]["PASSPHRASE"] == "later"


async def test_missing_configmap_volume_waits_in_container_creating(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    doc = statefulset("app", ns, container(f"m-{uuid.uuid4().hex}"))
    doc["spec"]["template"]["spec"]["volumes"][1] = {"name": "settings", "configMap": {"name": "later"}}
    await create(client, doc)

    async def creating() -> dict[str, Any] | None:
        pod = await get_pod(client, ns, "app-0")
        waiting = container_status(pod).get("state", {}).get("waiting") if pod else None
        return waiting if waiting and "later" in waiting.get("message", "") else None

    waiting = await wait_for("FailedMount", creating)
    assert waiting["reason"] == "ContainerCreating"
    assert waiting["message"] == 'configmap "later" not found'
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": ns}}
    await create(client, {**cm, "data": {"config.yaml": "late: true\n"}})

    async def started() -> dict[str, Any] | None:
        found = reports(runner.pod_log("app-0"))
        return found[0] if found else None

    report = await wait_for("the container to start", started)
    assert report["files"]["/etc/app/config.yaml"] == "late: true\n"
    assert "/etc/app/LEVEL" not in report["files"]  # the volume holds the new ConfigMap's keys only
