"""The pod's own identity, the same for both kinds: a ServiceAccount, and a Role + RoleBinding granting it exactly
``rules`` (its own status and Lease, by ``resourceNames``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from perpdex_operator.builders.meta import object_meta


def identity_children(
    sa: str, namespace: str, owner: Mapping[str, Any], child_labels: Mapping[str, str], rules: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(ServiceAccount, Role, RoleBinding), all named ``sa``."""
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(sa, owner, child_labels),
        "automountServiceAccountToken": True,
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": object_meta(sa, owner, child_labels),
        "rules": rules,
    }
    role_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(sa, owner, child_labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
    }
    return service_account, role, role_binding
