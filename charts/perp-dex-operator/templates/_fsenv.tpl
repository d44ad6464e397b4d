{{- define "perpdex.fundingServiceEnv" -}}
- name: PERPDEX_FS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "perpdex.databaseSecretName" . }}
      key: {{ include "perpdex.databaseURLKey" . }}
- name: PERPDEX_FS_INGEST_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "perpdex.ingestSecretName" . }}
      key: token
- name: PERPDEX_FS_PORT
  value: {{ .Values.fundingService.port | quote }}
- name: PERPDEX_FS_CORS_ORIGINS
  value: {{ .Values.fundingService.corsOrigins | join "," | quote }}
- name: PERPDEX_FS_UI_ENABLED
  value: {{ .Values.fundingService.ui.enabled | quote }}
- name: TMPDIR
  value: /tmp
{{- end -}}

{{/* the migration initContainer: the database only (never the ingest token) */}}
{{- define "perpdex.migrateEnv" -}}
- name: PERPDEX_FS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "perpdex.databaseSecretName" . }}
      key: {{ include "perpdex.databaseURLKey" . }}
- name: TMPDIR
  value: /tmp
{{- end -}}
