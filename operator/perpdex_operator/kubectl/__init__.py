"""``kubectl perpdex``: the user-side client of the API server (a kubectl plugin, console script ``kubectl-perpdex``).

It runs on the user's machine with the user's kubeconfig and RBAC, and speaks to the cluster only through ``kubectl``
itself (:mod:`.kube`), so every authentication kubectl supports (client certificates, tokens, exec plugins of
EKS/GKE/AKS) works and the plugin never needs a right the user does not have.

Imports run one way: :mod:`.cli` (the verbs) → the verb modules (:mod:`.views`, :mod:`.control`, :mod:`.logs`,
:mod:`.opportunities`, :mod:`.from_runbot`) → :mod:`.kube`, :mod:`.models`, :mod:`.display`; the verbs may use
``bot_runtime`` (``legacy_flags`` for ``from-runbot``). Nothing else of the operator imports this package, and it
imports nothing of the operator's reconcile side (no kopf).
"""
