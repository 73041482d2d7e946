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

{{/* The webhook: ferrolb's webhook.enabled, and MetalLB's controller.webhookMode. */}}
{{- define "ferrolb.webhookEnabled" -}}
{{- if and .Values.webhook.enabled (ne .Values.controller.webhookMode "disabled") }}true{{ end -}}
{{- end -}}

{{- define "ferrolb.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Port of /metrics (plain HTTP): MetalLB's prometheus.metricsPort, else metrics.port. */}}
{{- define "ferrolb.metricsPort" -}}
{{- default .Values.metrics.port .Values.prometheus.metricsPort -}}
{{- end -}}

{{/* Name of the heartbeat key Secret: MetalLB's speaker.secretName, else ours. */}}
{{- define "ferrolb.mlSecret" -}}
{{- default .Values.speaker.memberlist.secretName .Values.speaker.secretName -}}
{{- end -}}

{{/* UDP port of the speakers' heartbeats: MetalLB's memberlist.mlBindPort, else ours. */}}
{{- define "ferrolb.livenessPort" -}}
{{- default .Values.speaker.livenessPort .Values.speaker.memberlist.mlBindPort -}}
{{- end -}}

{{/* ServiceAccount of a component: (dict "c" .Values.controller "default" "controller"). */}}
{{- define "ferrolb.serviceAccountName" -}}
{{- default .default .c.serviceAccount.name -}}
{{- end -}}

{{/* A component's Pod securityContext: the user's values over ferrolb's defaults
     (dict "user" .Values.x.securityContext "base" (dict ...)). */}}
{{- define "ferrolb.podSecurityContext" -}}
{{- toYaml (merge (deepCopy (default (dict) .user)) .base) -}}
{{- end -}}

{{/* Extra Pod annotations: podAnnotations and, with prometheus.scrapeAnnotations, the
     prometheus.io/* ones. (dict "root" . "c" .Values.controller) */}}
{{- define "ferrolb.podAnnotations" -}}
{{- $a := deepCopy (default (dict) .c.podAnnotations) -}}
{{- if .root.Values.prometheus.scrapeAnnotations -}}
{{- $_ := set $a "prometheus.io/scrape" "true" -}}
{{- $_ := set $a "prometheus.io/port" (include "ferrolb.metricsPort" .root | toString) -}}
{{- $_ := set $a "prometheus.io/path" "/metrics" -}}
{{- end -}}
{{- if $a -}}
annotations:
  {{- toYaml $a | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* An HTTP probe on the `health` port from MetalLB-style values
     ({enabled, failureThreshold, initialDelaySeconds, periodSeconds, successThreshold,
     timeoutSeconds}): (dict "name" "livenessProbe" "p" .Values.controller.livenessProbe "path" "/healthz") */}}
{{- define "ferrolb.probe" -}}
{{- if .p.enabled -}}
{{ .name }}:
  httpGet:
    path: {{ .path }}
    port: health
  {{- range $k := list "failureThreshold" "initialDelaySeconds" "periodSeconds" "successThreshold" "timeoutSeconds" }}
  {{- if hasKey $.p $k }}
  {{ $k }}: {{ index $.p $k }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
(ferrolb) The OTEL_* variables of every component (value otelEnv, docs/tracing.md): env entries,
nothing when the map is empty.
*/}}
{{- define "ferrolb.otelEnv" -}}
{{- range $name, $value := .Values.otelEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
