"""Drift detection compares what the operator applied with what the API server holds (plus its defaults)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpdex_operator.children import ChildConflictError, check_ownership, is_current
from perpdex_operator.drift import differences, matches
from perpdex_operator.quantities import parse_quantity, same_quantity

DESIRED = {
    "metadata": {"name": "b", "labels": {"a": "1"}, "annotations": {"perpdex.io/applied-hash": "h1"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "bot",
                        "command": ["perpdex", "bot"],
                        "env": [
                            {"name": "A", "value": "1"},
                            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
                        ],
                        "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                    }
                ]
            }
        },
    },
}


def live(**changes: object) -> dict[str, object]:
    import copy

    obj = copy.deepcopy(DESIRED)
    obj["metadata"]["uid"] = "u"  # type: ignore[index]
    obj["metadata"]["managedFields"] = [{"manager": "x"}]  # type: ignore[index]
    container = obj["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["env"][1]["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
    obj["status"] = {"replicas": 0}
    for path, value in changes.items():
        target = obj
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]  # type: ignore[index]
        target[keys[-1]] = value  # type: ignore[index]
    return obj


def test_server_defaults_and_extra_fields_are_not_drift() -> None:
    assert differences(DESIRED, live()) == []
    assert matches(DESIRED, live())


def test_changed_values_and_missing_items_are_drift() -> None:
    assert differences(DESIRED, live(**{"spec.replicas": 3})) == ["spec.replicas"]
    gone_env = live()
    gone_env["spec"]["template"]["spec"]["containers"][0]["env"].pop(0)  # type: ignore[index]
    assert differences(DESIRED, gone_env) == ["spec.template.spec.containers[bot].env[A]"]
    other_cmd = live()
    other_cmd["spec"]["template"]["spec"]["containers"][0]["command"].append("--x")  # type: ignore[index]
    assert differences(DESIRED, other_cmd) == ["spec.template.spec.containers[bot].command"]
    no_labels = live()
    del no_labels["metadata"]["labels"]  # type: ignore[attr-defined]
    assert differences(DESIRED, no_labels) == ["metadata.labels"]


def test_respelled_quantities_are_the_same() -> None:
    respelled = live()
    respelled["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "0.5"  # type: ignore[index]
    assert differences(DESIRED, respelled) == []
    bigger = live()
    bigger["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"  # type: ignore[index]
    assert differences(DESIRED, bigger) == ["spec.template.spec.containers[bot].resources.limits.memory"]


def test_type_matters_outside_quantities() -> None:
    assert differences({"a": 1}, {"a": True}) == ["a"]
    assert differences({"a": "1"}, {"a": 1}) == ["a"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", "0.5"),
        ("1", "1"),
        ("1.5", "1.5"),
        ("128Mi", str(128 * 2**20)),
        ("1G", "1000000000"),
        ("1e3", "1000"),
        ("100n", "1E-7"),
    ],
)
def test_parse_quantity(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_bad_quantities() -> None:
    with pytest.raises(ValueError):
        parse_quantity("12x")
    assert not same_quantity("abc", "abc")
    assert same_quantity(2, "2000m")


def test_applied_hash_and_fields_both_decide_currency() -> None:
    assert is_current(DESIRED, live()) == (True, ())
    stale_hash = live(**{"metadata.annotations": {"perpdex.io/applied-hash": "old"}})
    assert is_current(DESIRED, stale_hash)[0] is False
    assert is_current(DESIRED, live(**{"spec.replicas": 0})) == (False, ("spec.replicas",))


def owned(kind: str, name: str, uid: str, api: str = "perpdex.io/v1alpha1") -> dict[str, object]:
    return {
        "kind": "ConfigMap",
        "metadata": {
            "name": "x-config",
            "ownerReferences": [{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": True}],
        },
    }


def test_ownership() -> None:
    mine = owned("TradingBot", "x", "u1")
    check_ownership(mine, owned("TradingBot", "x", "u1"))
    check_ownership(mine, owned("TradingBot", "x", "old-incarnation"))  # adopted
    for foreign in (
        owned("FundingCollector", "x", "u1"),
        owned("TradingBot", "y", "u1"),
        owned("TradingBot", "x", "u1", api="other.io/v1"),
        {"kind": "ConfigMap", "metadata": {"name": "x-config"}},
    ):
        with pytest.raises(ChildConflictError):
            check_ownership(mine, foreign)
