{{/* Namespace of every namespaced object. */}}
{{- define "ferrolb.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/* Labels on every object the chart templates (RBAC keeps config/rbac's labels). */}}
{{- define "ferrolb.labels" -}}
app: metallb
app.kubernetes.io/name: ferrolb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "ferrolb.speakerEnabled" -}}
{{- if and .Values.speaker.enabled (or .Values.l2.enabled .Values.bgp.enabled) }}true{{ end -}}
{{- end -}}

{{- define "ferrolb.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/*
prometheus.io/scrape and prometheus.io/port of the controller and speaker Pods (a YAML map, empty
when metrics.scrapeAnnotations is off or the metrics port is 0).
*/}}
{{- define "ferrolb.scrapeAnnotations" -}}
{{- if and .Values.metrics.scrapeAnnotations (ne (int .Values.metrics.port) 0) -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
{{- end -}}
{{- end }}
