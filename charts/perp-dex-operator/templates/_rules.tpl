{{/* What the operator may do where it reconciles: its CRs, their children, and the per-bot RBAC it hands out.
     It holds every permission it grants to bots (tradingbots/status, leases) but one: `get` on exactly the Secrets a
     bot's pod references (resourceNames; the bot reads their versions to restart when one is fixed, issue 19). RBAC
     lets it grant what it does not hold only with `escalate` (write such a Role) and `bind` (bind it) on Roles, so it
     has those verbs only while the admission policy (admission-policy.yaml) pins every Role it writes to the bots'
     and collectors' rules and every RoleBinding to a <name>-bot/-collector Role and its own ServiceAccount; without the policy
     bots get no Secret rule (PERPDEX_OPERATOR_BOT_SECRET_VERSIONS=false).
     No access to Secret values: it only references Secrets by name in secretKeyRef. */}}
{{- define "perpdex.operatorRules" -}}
- apiGroups: [perpdex.io]
  resources: [tradingbots, fundingcollectors]
  verbs: [get, list, watch, patch, update]
- apiGroups: [perpdex.io]
  resources: [tradingbots/status, fundingcollectors/status, tradingbots/finalizers, fundingcollectors/finalizers]
  verbs: [get, patch, update]
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [apps]
  resources: [statefulsets, deployments]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, update, delete]
{{- if .Values.admissionPolicy.enabled }}
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [escalate, bind]
{{- end }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end -}}
