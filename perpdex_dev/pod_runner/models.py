"""The slice of the Kubernetes object model the local pod runner reads: workloads, pod templates, containers, env,
volumes, probes, security contexts. Parsed with pydantic from the API server's JSON (camelCase aliases); unknown
fields are ignored, so newer API versions still parse."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class K8sModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class OwnerReference(K8sModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(K8sModel):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = None
    owner_references: list[OwnerReference] = Field(default_factory=list)


# env -------------------------------------------------------------------------------------------------------------
class KeySelector(K8sModel):
    name: str = ""
    key: str
    optional: bool | None = None


class ObjectFieldSelector(K8sModel):
    field_path: str
    api_version: str | None = None


class ResourceFieldSelector(K8sModel):
    resource: str
    container_name: str | None = None
    divisor: str | int | None = None


class EnvVarSource(K8sModel):
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None


class EnvVar(K8sModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class OptionalRef(K8sModel):
    name: str = ""
    optional: bool | None = None


class EnvFromSource(K8sModel):
    prefix: str = ""
    config_map_ref: OptionalRef | None = None
    secret_ref: OptionalRef | None = None


# probes ----------------------------------------------------------------------------------------------------------
class HTTPHeader(K8sModel):
    name: str
    value: str


class HTTPGetAction(K8sModel):
    path: str = "/"
    port: int | str
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[HTTPHeader] = Field(default_factory=list)


class TCPSocketAction(K8sModel):
    port: int | str
    host: str | None = None


class ExecAction(K8sModel):
    command: list[str] = Field(default_factory=list)


class Probe(K8sModel):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec_: ExecAction | None = Field(default=None, alias="exec")
    grpc: dict[str, Any] | None = None
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3


# containers ------------------------------------------------------------------------------------------------------
class ContainerPort(K8sModel):
    container_port: int
    name: str | None = None
    protocol: str = "TCP"
    host_port: int | None = None


class VolumeMount(K8sModel):
    name: str
    mount_path: str
    sub_path: str = ""
    read_only: bool = False


class Capabilities(K8sModel):
    add: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)


class SecurityContext(K8sModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    capabilities: Capabilities | None = None


class PodSecurityContext(K8sModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    supplemental_groups: list[int] = Field(default_factory=list)


class Container(K8sModel):
    name: str
    image: str = ""
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    working_dir: str = ""
    env: list[EnvVar] = Field(default_factory=list)
    env_from: list[EnvFromSource] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    security_context: SecurityContext | None = None
    resources: dict[str, dict[str, str | int]] = Field(default_factory=dict)

    def port_number(self, port: int | str) -> int | None:
        """A probe's ``port``: a number, or the name of one of the container's ports."""
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        return next((p.container_port for p in self.ports if p.name == port), None)


# volumes ---------------------------------------------------------------------------------------------------------
class KeyToPath(K8sModel):
    key: str
    path: str
    mode: int | None = None


class ConfigMapVolumeSource(K8sModel):
    name: str = ""
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: int = 0o644
    optional: bool | None = None


class SecretVolumeSource(K8sModel):
    secret_name: str = ""
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: int = 0o644
    optional: bool | None = None


class EmptyDirVolumeSource(K8sModel):
    medium: str = ""
    size_limit: str | int | None = None


class DownwardAPIVolumeFile(K8sModel):
    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(K8sModel):
    items: list[DownwardAPIVolumeFile] = Field(default_factory=list)
    default_mode: int = 0o644


class Volume(K8sModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    name: str
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = Field(default=None, alias="downwardAPI")

    @property
    def unsupported_source(self) -> str | None:
        """The volume type when it is one the runner cannot provide (hostPath, PVCs, projected, ...)."""
        if self.config_map or self.secret or self.empty_dir or self.downward_api:
            return None
        return next(iter(self.model_extra or {}), "unknown")


# pods and workloads ----------------------------------------------------------------------------------------------
class PodSpec(K8sModel):
    containers: list[Container]
    init_containers: list[Container] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    service_account_name: str = ""
    automount_service_account_token: bool | None = None
    termination_grace_period_seconds: int = 30
    security_context: PodSecurityContext = Field(default_factory=PodSecurityContext)
    host_network: bool = False
    hostname: str = ""
    subdomain: str = ""
    restart_policy: str = "Always"


class PodTemplateSpec(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec


class LabelSelector(K8sModel):
    match_labels: dict[str, str] = Field(default_factory=dict)


class UpdateStrategy(K8sModel):
    type: str = ""


class WorkloadSpec(K8sModel):
    """The fields StatefulSets, Deployments and Jobs share, plus each kind's own (defaults applied by the API
    server)."""

    replicas: int = 1
    selector: LabelSelector = Field(default_factory=LabelSelector)
    template: PodTemplateSpec
    service_name: str = ""  # StatefulSet
    pod_management_policy: str = "OrderedReady"  # StatefulSet
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)  # StatefulSet
    strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)  # Deployment
    min_ready_seconds: int = 0
    completions: int | None = 1  # Job (None: any one success completes it)
    backoff_limit: int = 6  # Job: failed pods (or container restarts under OnFailure) before the Job fails


WorkloadKind = Literal["StatefulSet", "Deployment", "Job"]
API_VERSIONS: dict[str, str] = {"StatefulSet": "apps/v1", "Deployment": "apps/v1", "Job": "batch/v1"}
PLURALS: dict[str, str] = {"StatefulSet": "statefulsets", "Deployment": "deployments", "Job": "jobs"}


class Workload(K8sModel):
    kind: WorkloadKind
    metadata: ObjectMeta
    spec: WorkloadSpec

    @property
    def api_version(self) -> str:
        return API_VERSIONS[self.kind]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.metadata.namespace, self.metadata.name)


def effective_security(
    pod: PodSecurityContext, container: SecurityContext | None
) -> tuple[int | None, int | None, bool]:
    """(runAsUser, runAsGroup, runAsNonRoot): the container's settings override the pod's."""
    c = container or SecurityContext()
    user = c.run_as_user if c.run_as_user is not None else pod.run_as_user
    group = c.run_as_group if c.run_as_group is not None else pod.run_as_group
    non_root = c.run_as_non_root if c.run_as_non_root is not None else pod.run_as_non_root
    return user, group, bool(non_root)
