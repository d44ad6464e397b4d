"""The Helm chart end to end on this machine: ``helm install --wait`` on the local control plane with the pod runner
running every workload the chart creates, a paper TradingBot reaching Running through the chart-installed operator,
``helm upgrade --wait``, then ``helm uninstall`` leaving no orphan.

Real parts throughout: kube-apiserver, the real ``helm`` and ``kubectl`` binaries, the session's PostgreSQL (the
chart's external database, a database of its own), and ``perpdex dev pod-runner`` for the namespace with an empty
selector, so it plays Deployment/ReplicaSet/Job controllers and kubelet for the chart's operator and funding service
(with its ``migrate`` initContainer), for the pre-delete hook Job, and for what the operator creates (the bot's
StatefulSet, the collector's Deployment). Nothing is started by the test itself except the pod runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from perpdex_dev.control_plane import REPO_ROOT
from perpdex_dev.pod_runner.runner import READY_LINE
from perpdex_dev.postgres import PostgresCluster
from tests.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHART = REPO_ROOT / "charts" / "perp-dex-operator"
RELEASE = "pdx"
FULL = f"{RELEASE}-perp-dex-operator"
BOT = "paper-btc-grid"


class PodRunner:
    def __init__(self, env: dict[str, str], namespace: str, state_dir: Path) -> None:
        self.log_path = state_dir.parent / "pod-runner.log"
        argv = [
            str(Path(sys.executable).parent / "perpdex"),
            "dev",
            "pod-runner",
            f"--namespace={namespace}",
            "--selector=",  # every workload of the namespace: the chart's and the operator's
            f"--state-dir={state_dir}",
            "--backoff-initial=1",
            "--backoff-max=4",
            "--config-retry=1",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait("pod runner ready", lambda: READY_LINE in self.log() or self._dead(), timeout=60)

    def _dead(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"pod runner exited with {self.proc.returncode}:\n{self.log()}")
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait(what: str, predicate: Callable[[], Any], timeout: float = 180.0, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def chart_ns(kube: Kube, postgres: PostgresCluster, tmp_path: Path) -> Iterator[tuple[str, PodRunner]]:
    ns = f"chart-e2e-{uuid.uuid4().hex[:6]}"
    database = f"chart_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("create", "secret", "generic", "pg", "-n", ns, f"--from-literal=url={postgres.dsn_for(database)}")
    runner = PodRunner(dict(kube.env), ns, tmp_path / "pods")
    try:
        yield ns, runner
    finally:
        runner.stop()
        kube.helm("uninstall", RELEASE, "-n", ns, "--no-hooks", check=False)
        for kind in ("tradingbots", "fundingcollectors"):  # leftovers of a failed run: let them go
            out = kube.kubectl("get", kind, "-n", ns, "-o", "name", check=False).stdout.split()
            for name in out:
                kube.kubectl(
                    "patch", name, "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":[]}}', check=False
                )
            kube.kubectl("delete", kind, "--all", "-n", ns, "--wait=false", check=False)


def values(*extra: str) -> list[str]:
    sets = [
        "postgresql.enabled=false",
        "postgresql.external.existingSecret=pg",
        "operator.scope=namespaced",
        "collector.create=true",
        "collector.exchanges={paper-a,paper-b}",
        "collector.interval=5s",
        "collector.timeout=3s",
        *extra,
    ]
    return [arg for s in sets for arg in ("--set", s)]


def _alive(kube: Kube, ns: str, owner: dict[str, Any]) -> bool:
    out = kube.kubectl(
        "get", owner["kind"].lower(), owner["name"], "-n", ns, "-o", "jsonpath={.metadata.uid}", check=False
    )
    return out.returncode == 0 and out.stdout == owner["uid"]


def diagnose(kube: Kube, ns: str, runner: PodRunner) -> None:
    """Printed when the test fails: what the API server and the pods' logs say."""
    print(
        kube.kubectl(
            "get", "all,tradingbots,fundingcollectors,replicasets,jobs", "-n", ns, "-o", "wide", check=False
        ).stdout
    )
    print(kube.kubectl("get", "tradingbots,fundingcollectors", "-n", ns, "-o", "yaml", check=False).stdout[-4000:])
    print(kube.kubectl("get", "events", "-n", ns, check=False).stdout[-4000:])
    for log in sorted((runner.log_path.parent / "pods" / ns).glob("*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
    print(f"--- pod runner\n{runner.log()[-4000:]}")


def test_helm_install_upgrade_uninstall_with_every_workload_running(
    kube: Kube, chart_ns: tuple[str, PodRunner]
) -> None:
    ns, runner = chart_ns
    try:
        _install_upgrade_uninstall(kube, ns, runner)
    except AssertionError:
        diagnose(kube, ns, runner)
        raise


def _install_upgrade_uninstall(kube: Kube, ns: str, runner: PodRunner) -> None:

    def get(kind: str, name: str) -> dict[str, Any] | None:
        out = kube.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def names(kinds: str, *extra: str) -> list[str]:
        return kube.kubectl("get", kinds, "-n", ns, "-o", "name", *extra).stdout.split()

    # install --wait: returns only once the operator and the funding service (migrated by its initContainer) are Ready
    started = time.monotonic()
    out = kube.helm("install", RELEASE, str(CHART), "-n", ns, "--wait", "--timeout=5m", *values(), timeout=400)
    print(f"helm install --wait: {time.monotonic() - started:.1f}s")
    assert "STATUS: deployed" in out.stdout
    fs_pods = [
        json.loads(kube.kubectl("get", p, "-n", ns, "-o", "json").stdout)
        for p in names("pods", "-l", "app.kubernetes.io/component=funding-service")
    ]
    (fs_pod,) = fs_pods
    (init,) = fs_pod["status"]["initContainerStatuses"]
    assert init["name"] == "migrate" and init["state"]["terminated"]["exitCode"] == 0
    assert {c["type"]: c["status"] for c in fs_pod["status"]["conditions"]}["Ready"] == "True"
    fs_log = runner.log_path.parent / "pods" / ns / f"{fs_pod['metadata']['name']}.log"
    assert "applied " in fs_log.read_text()  # a fresh database: the initContainer applied the migrations

    # a paper bot through the chart-installed operator
    kube.kubectl("apply", "-n", ns, "-f", str(REPO_ROOT / "examples" / "paper-grid.yaml"))
    wait("bot Running", lambda: ((get("tradingbot", BOT) or {}).get("status") or {}).get("phase") == "Running", 120)
    # the chart's FundingCollector runs too (its Deployment's pod, created by the operator, run by the pod runner)
    wait(
        "collector pod Running",
        lambda: (
            [p for p in names("pods", "-l", "app.kubernetes.io/component=collector") if p]
            and all(
                json.loads(kube.kubectl("get", p, "-n", ns, "-o", "json").stdout)["status"]["phase"] == "Running"
                for p in names("pods", "-l", "app.kubernetes.io/component=collector")
            )
        ),
        180,
    )

    # upgrade --wait: a changed operator and funding-service template roll out (the initContainer migrates again)
    old_fs = fs_pod["metadata"]["name"]
    kube.helm(
        "upgrade", RELEASE, str(CHART), "-n", ns, "--wait", "--timeout=5m",
        *values("operator.logLevel=debug", "fundingService.migrationWaitSeconds=120"), timeout=400,
    )  # fmt: skip
    (new_fs,) = names("pods", "-l", "app.kubernetes.io/component=funding-service")
    assert new_fs != f"pod/{old_fs}"
    wait(
        "bot still Running", lambda: ((get("tradingbot", BOT) or {}).get("status") or {}).get("phase") == "Running", 120
    )
    op = get("deployment", f"{FULL}-operator") or {}
    assert op["status"].get("readyReplicas") == 1

    # uninstall: the user's bot first (a chart never owns users' bots), then the release
    kube.kubectl("delete", "tradingbot", BOT, "-n", ns, "--wait", "--timeout=180s")
    kube.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout=5m", timeout=400)
    # the pre-delete hook Job ran (as a pod of the runner) and saw the chart's FundingCollector go while the operator ran
    (hook_log,) = (runner.log_path.parent / "pods" / ns).glob(f"{FULL}-release-cleanup-*.log")
    hook_text = hook_log.read_text()
    assert "deleting fundingcollectors" in hook_text and "no resource of the release is left" in hook_text, hook_text

    kinds = "deployments,statefulsets,replicasets,jobs,pods,services,roles,rolebindings,configmaps,leases"
    kinds += ",serviceaccounts,secrets,tradingbots,fundingcollectors,kopfpeerings"
    kept = {"serviceaccount/default", "secret/pg", f"secret/{FULL}-ingest-token"}

    def orphans() -> list[str]:
        """What nothing will ever delete. The local control plane has no garbage collector: objects whose every owner
        is gone, directly or through owners that are themselves garbage (the deleted collector's Deployment and its
        ReplicaSet, the bot's Service...), are the GC's in a cluster, so they are not orphans; anything without an
        owner, or with a live one, is."""
        items = json.loads(kube.kubectl("get", kinds, "-n", ns, "-o", "json").stdout)["items"]
        by_uid = {i["metadata"]["uid"]: i for i in items}
        garbage: set[str] = set()
        changed = True
        while changed:
            changed = False
            for uid, item in by_uid.items():
                owners = item["metadata"].get("ownerReferences") or []
                if uid in garbage or not owners:
                    continue
                if all(o["uid"] in garbage or (o["uid"] not in by_uid and not _alive(kube, ns, o)) for o in owners):
                    garbage.add(uid)
                    changed = True
        names = [(uid, f"{i['kind'].lower()}/{i['metadata']['name']}") for uid, i in by_uid.items()]
        return [name for uid, name in names if uid not in garbage and name not in kept]

    wait("no orphan in the namespace", lambda: not orphans(), 120)
    cluster_kinds = "clusterroles,clusterrolebindings,clusterkopfpeerings"
    cluster_kinds += ",validatingadmissionpolicies,validatingadmissionpolicybindings"
    assert FULL not in kube.kubectl("get", cluster_kinds, "-o", "name").stdout
    # the ingest token is kept on purpose (helm.sh/resource-policy: keep): a reinstall keeps the collectors' token
    assert get("secret", f"{FULL}-ingest-token") is not None


def test_gitops_style_apply_converges(kube: Kube, chart_ns: tuple[str, PodRunner]) -> None:
    """What Argo CD does with a Helm source: render, apply everything server-side, wait for health. No hook runs and
    none is needed: the funding service migrates in its initContainer and every Deployment turns Available."""
    ns, runner = chart_ns
    try:
        render = ["template", "gitops", str(CHART), "-n", ns, "--no-hooks", "--include-crds", "--kube-version=1.34.0"]
        rendered = kube.helm(*render, *values()).stdout
        # one sync: CRDs and everything else in one apply; the custom resources wait for their CRDs, as a GitOps
        # tool retries them (Argo CD: retry / sync waves), so a second pass applies them
        kube.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=rendered, check=False)
        kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", input=rendered)
        kube.kubectl(
            "wait", "--for=condition=Available", "deployment", "-l", "app.kubernetes.io/instance=gitops",
            "-n", ns, "--timeout=240s", timeout=300,
        )  # fmt: skip
        deployments = kube.kubectl("get", "deployments", "-n", ns, "-o", "name").stdout.split()
        assert {f"deployment.apps/gitops-{FULL.split('-', 1)[1]}-{c}" for c in ("operator", "funding-service")} <= set(
            deployments
        )
        pods = json.loads(
            kube.kubectl(
                "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=funding-service", "-o", "json"
            ).stdout
        )["items"]
        (fs,) = pods
        assert fs["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        # a second apply of the same render changes nothing and stays converged (what every sync does)
        again = kube.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", input=rendered)
        assert "serverside-applied" in again.stdout
        # an upgrade as a sync: changed values roll the funding service; its new pod migrates again, then serves
        upgraded = kube.helm(*render, *values("fundingService.migrationWaitSeconds=120")).stdout
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", input=upgraded)

        def rolled() -> bool:
            items = json.loads(
                kube.kubectl(
                    "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=funding-service", "-o", "json"
                ).stdout
            )["items"]
            return [p["metadata"]["name"] for p in items] != [fs["metadata"]["name"]] and any(
                c["type"] == "Ready" and c["status"] == "True" for p in items for c in p["status"].get("conditions", [])
            )

        wait("the upgraded funding service Ready", rolled, 240)
        kube.kubectl(
            "wait", "--for=condition=Available", "deployment", "-l", "app.kubernetes.io/instance=gitops",
            "-n", ns, "--timeout=240s", timeout=300,
        )  # fmt: skip
        # removal as a GitOps tool without Helm hooks should do it: the chart's collector first, while the operator runs;
        # within the operator's own bound (--delete-timeout-seconds 150), which a stale cached replica count used to
        # make it wait out after the collector's pod was gone (fixed: the finalizer reads the workload fresh)
        kube.kubectl("delete", "fundingcollector", "all-dexes", "-n", ns, "--wait", "--timeout=150s", timeout=200)
        without_crds = kube.helm(*render[:-2], "--kube-version=1.34.0", *values()).stdout  # CRDs stay, as with Helm
        kube.kubectl("delete", "--ignore-not-found", "-n", ns, "-f", "-", input=without_crds)
    except AssertionError:
        diagnose(kube, ns, runner)
        raise
