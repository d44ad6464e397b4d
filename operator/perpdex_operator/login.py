"""kopf's cluster login from the same configuration the rest of the project uses (``bot_runtime.kube.KubeConfig``:
in-cluster service account, ``PERPDEX_SERVICEACCOUNT_DIR``, ``$KUBECONFIG``)."""

from __future__ import annotations

from typing import Any

import kopf

from bot_runtime.kube import KubeConfig


def connection_info(config: KubeConfig) -> Any:
    return kopf.ConnectionInfo(
        server=config.server,
        ca_path=config.ca_file,
        ca_data=None if config.ca_file else config.ca_data,
        insecure=config.insecure or None,
        token=config.bearer_token(),
        certificate_path=config.client_cert_file,
        private_key_path=config.client_key_file,
        default_namespace=config.namespace,
    )
