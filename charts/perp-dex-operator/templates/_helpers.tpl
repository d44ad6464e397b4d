{{- define "perpdex.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "perpdex.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "perpdex.labels" -}}
app.kubernetes.io/part-of: perp-dex-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "perpdex.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* restricted pod security: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp */}}
{{- define "perpdex.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "perpdex.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "perpdex.fundingServiceURL" -}}
http://{{ include "perpdex.fullname" . }}-funding-service.{{ .Release.Namespace }}.svc:{{ .Values.fundingService.port }}
{{- end -}}

{{- define "perpdex.ingestSecretName" -}}
{{ .Values.fundingService.ingestToken.existingSecret | default (printf "%s-ingest-token" (include "perpdex.fullname" .)) }}
{{- end -}}

{{- define "perpdex.databaseSecretName" -}}
{{- if .Values.postgresql.enabled -}}{{ include "perpdex.fullname" . }}-database{{- else -}}{{ required "postgresql.external.existingSecret is required when postgresql.enabled=false" .Values.postgresql.external.existingSecret }}{{- end -}}
{{- end -}}

{{- define "perpdex.databaseURLKey" -}}
{{- if .Values.postgresql.enabled -}}url{{- else -}}{{ .Values.postgresql.external.urlKey }}{{- end -}}
{{- end -}}

{{- define "perpdex.watchNamespaces" -}}
{{- if eq .Values.operator.scope "namespaced" -}}{{ .Values.operator.watchNamespaces | default (list .Release.Namespace) | join "," }}{{- end -}}
{{- end -}}

{{/* kopf peering object: per release by default, so two releases never share (or fight over) one */}}
{{- define "perpdex.peering" -}}
{{ .Values.operator.peering | default (include "perpdex.fullname" .) }}
{{- end -}}
