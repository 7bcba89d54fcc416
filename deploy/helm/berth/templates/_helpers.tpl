{{/* Names and labels, as `helm create` makes them. */}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "berth.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "berth.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.labels" -}}
helm.sh/chart: {{ include "berth.chart" . }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: the chart's own, or secrets.existingSecret. */}}
{{- define "berth.secretName" -}}
{{- default (include "berth.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* "true" when a secret key is available: set in values, or possibly in an existing Secret. */}}
{{- define "berth.hasSecret" -}}
{{- $root := index . 0 }}{{- $value := index . 1 }}
{{- if or $root.Values.secrets.existingSecret $value }}true{{ end }}
{{- end }}

{{/* Users from Berth's database or htpasswd with Berth's own token service, which signs tokens. */}}
{{- define "berth.signsTokens" -}}
{{- $auth := .Values.config.auth | default dict }}
{{- if and (hasKey $auth "token") (not (dig "token" "rootcertbundle" "" $auth)) }}true{{ end }}
{{- end }}

{{/*
Refuse configurations that cannot work, with the fix in the message. Several
replicas share nothing but what is outside the pods: the database, the blob
storage and the signing key must be external and common to all of them.
*/}}
{{- define "berth.validate" -}}
{{- $storage := .Values.config.storage | default dict }}
{{- $hasDatabase := or (include "berth.hasSecret" (list . .Values.secrets.databaseUrl)) (dig "database" "url" "" (.Values.config | default dict)) }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- if not $hasDatabase }}
{{- fail "replicaCount > 1 requires PostgreSQL: set secrets.databaseUrl=postgres://USER:PASSWORD@HOST:5432/DB (the embedded SQLite file cannot be shared between pods)" }}
{{- end }}
{{- if not (hasKey $storage "s3") }}
{{- fail "replicaCount > 1 requires S3 blob storage: set config.storage.s3 (bucket, region, ...) and secrets.s3AccessKey / s3SecretKey" }}
{{- end }}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) (has "ReadWriteOnce" .Values.persistence.accessModes) }}
{{- fail "replicaCount > 1 with a ReadWriteOnce volume: set persistence.enabled=false (the blobs are in S3, the metadata in PostgreSQL)" }}
{{- end }}
{{- if and (include "berth.signsTokens" .) (not (include "berth.hasSecret" (list . .Values.secrets.tokenSigningKey))) }}
{{- fail "replicaCount > 1 with token auth requires one shared signing key: set secrets.tokenSigningKey (--set-file secrets.tokenSigningKey=token-signing-key.pem)" }}
{{- end }}
{{- end }}
{{- if and (hasKey $storage "s3") (hasKey $storage "filesystem") }}
{{- fail "config.storage: set either s3 or filesystem, not both" }}
{{- end }}
{{- end }}
