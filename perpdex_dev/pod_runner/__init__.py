"""The local pod runner (``perpdex dev pod-runner``): runs the operator's pod templates as local processes; a test and
demo harness, never deployed. See docs/pod-runner.md.

``runner`` is the entry point (the PodRunner and its command line); ``workload`` and ``pod`` play the workload
controllers and the kubelet; ``env``, ``volumes``, ``net``, ``probe``, ``process`` and ``sandbox`` build and run one
container; ``models``, ``settings`` and ``kube`` are what they all share.

Deliberately empty: ``python -m perpdex_dev.pod_runner.sandbox`` runs once per container start and imports this
package first, so nothing here may pull in pydantic or httpx.
"""
