{{/* The release's resource name. */}}
{{- define "powerbirth.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "powerbirth.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What selects the gateway's pods. */}}
{{- define "powerbirth.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* A variable from a Secret key. */}}
{{- define "powerbirth.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret.name }}
      key: {{ .secret.key }}
{{- end -}}

{{/* The canary analysis' arguments: the canary Service and both pod-template hashes. */}}
{{- define "powerbirth.analysisArgs" -}}
- name: canary-service
  value: {{ include "powerbirth.fullname" . }}-canary
- name: namespace
  value: {{ .Release.Namespace }}
- name: canary-hash
  valueFrom:
    podTemplateHashValue: Latest
- name: stable-hash
  valueFrom:
    podTemplateHashValue: Stable
{{- end -}}
