{{/* Labels of every object; a flow mapping so `template` can place it on one line. */}}
{{- define "berth.labels" -}}
{app.kubernetes.io/name: berth, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/version: {{ .Values.image.tag | quote }}, app.kubernetes.io/managed-by: {{ .Release.Service }}}
{{- end -}}
{{/* What the Service, PDB and NetworkPolicy select. */}}
{{- define "berth.selector" -}}
{app.kubernetes.io/name: berth, app.kubernetes.io/instance: {{ .Release.Name }}}
{{- end -}}
{{- define "berth.secretName" -}}
{{- if .Values.secret.create -}}{{ .Release.Name }}{{- else -}}{{ required "secret.existingName is required when secret.create is false" .Values.secret.existingName }}{{- end -}}
{{- end -}}
