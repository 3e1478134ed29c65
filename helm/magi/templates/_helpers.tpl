{{/*
Names. fullname is <release>-magi unless the release name already contains "magi".
*/}}
{{- define "magi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "magi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "magi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The four MAGI services: key in values, argument of `magi serve`, Kubernetes component name
(DNS names take no underscore), whether the chart offers an Ingress, what it serves.
*/}}
{{- define "magi.components" -}}
- key: nfvo
  serve: nfvo
  component: nfvo
  ingress: true
  title: "NFVO (SOL005 nslcm/nsd/vnfpkgm, SOL003 grant)"
- key: vnfm
  serve: vnfm
  component: vnfm
  ingress: true
  title: "VNFM (SOL003 vnflcm)"
- key: vimAdapter
  serve: vim_adapter
  component: vim-adapter
  ingress: false
  title: "VIM adapter (inventory)"
- key: monitoring
  serve: monitoring
  component: monitoring
  ingress: false
  title: "Monitoring (inventory)"
{{- end -}}

{{/*
The base URL clients reach a service at (MAGI_<SERVICE>_PUBLIC_URL). Call with (dict "ctx" $ "c" $c):
<svc>.publicUrl when set; else the first Ingress host (https when the Ingress has tls); else
http://<publicHost or the Service's cluster name>:<port>.
*/}}
{{- define "magi.publicUrl" -}}
{{- $v := index .ctx.Values .c.key -}}
{{- if $v.publicUrl -}}
{{- trimSuffix "/" $v.publicUrl -}}
{{- else if and .c.ingress $v.ingress.enabled (first $v.ingress.hosts).host -}}
{{- printf "%s://%s" (ternary "https" "http" (not (empty $v.ingress.tls))) (first $v.ingress.hosts).host -}}
{{- else -}}
{{- printf "http://%s:%d" (default (printf "%s-%s.%s.svc" (include "magi.fullname" .ctx) .c.component .ctx.Release.Namespace) $v.publicHost) ($v.port | int) -}}
{{- end -}}
{{- end -}}

{{/*
Kubernetes recommended labels. Call with (dict "ctx" $ "component" "nfvo").
*/}}
{{- define "magi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "magi.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "magi.labels" -}}
{{ include "magi.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: magi
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "magi.chart" .ctx }}
{{- end -}}

{{- define "magi.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "magi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "magi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
In-chart RabbitMQ / MongoDB run when enabled and no external URL is given.
They return "true" or "".
*/}}
{{- define "magi.rabbitmq.enabled" -}}
{{- if and .Values.rabbitmq.enabled (not .Values.externalAmqpUrl) -}}true{{- end -}}
{{- end -}}

{{- define "magi.mongodb.enabled" -}}
{{- if and .Values.mongodb.enabled (not .Values.externalMongodbUri) -}}true{{- end -}}
{{- end -}}

{{- define "magi.rabbitmq.fullname" -}}
{{- printf "%s-rabbitmq" (include "magi.fullname" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "magi.mongodb.fullname" -}}
{{- printf "%s-mongodb" (include "magi.fullname" .) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/*
The in-chart RabbitMQ password: the given one, else the one already in the release's Secret,
else a random one. Computed once per render (kept in .Values.rabbitmq.password), so the
RabbitMQ Secret and MAGI_AMQP_URL always agree.
*/}}
{{- define "magi.rabbitmq.password" -}}
{{- if not .Values.rabbitmq.password -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "magi.rabbitmq.fullname" .) -}}
{{- if and $existing $existing.data (index $existing.data "rabbitmq-password") -}}
{{- $_ := set .Values.rabbitmq "password" (index $existing.data "rabbitmq-password" | b64dec) -}}
{{- else -}}
{{- $_ := set .Values.rabbitmq "password" (randAlphaNum 24) -}}
{{- end -}}
{{- end -}}
{{- .Values.rabbitmq.password -}}
{{- end -}}

{{- define "magi.amqpUrl" -}}
{{- if include "magi.rabbitmq.enabled" . -}}
{{- printf "amqp://%s:%s@%s:5672/" (.Values.rabbitmq.username | urlquery) (include "magi.rabbitmq.password" . | urlquery) (include "magi.rabbitmq.fullname" .) -}}
{{- else -}}
{{- .Values.externalAmqpUrl -}}
{{- end -}}
{{- end -}}

{{/* Host name the one replica-set member announces; clients reach it by this name. */}}
{{- define "magi.mongodb.memberHost" -}}
{{- $name := include "magi.mongodb.fullname" . -}}
{{- printf "%s-0.%s-headless.%s.svc.%s:27017" $name $name .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "magi.mongodbUri" -}}
{{- if include "magi.mongodb.enabled" . -}}
{{- printf "mongodb://%s/?replicaSet=%s" (include "magi.mongodb.memberHost" .) .Values.mongodb.replicaSetName -}}
{{- else -}}
{{- .Values.externalMongodbUri -}}
{{- end -}}
{{- end -}}

{{- define "magi.secretName" -}}
{{- default (include "magi.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/*
Fails the render on settings that cannot work together.
*/}}
{{- define "magi.validate" -}}
{{- if not .Values.existingSecret -}}
{{- if and (not (include "magi.rabbitmq.enabled" .)) (not .Values.externalAmqpUrl) -}}
{{- fail "rabbitmq.enabled=false needs externalAmqpUrl (or existingSecret with the MAGI_AMQP_URL key)" -}}
{{- end -}}
{{- if and (not (include "magi.mongodb.enabled" .)) (not .Values.externalMongodbUri) -}}
{{- fail "mongodb.enabled=false needs externalMongodbUri (or existingSecret with the MAGI_MONGODB_URI key)" -}}
{{- end -}}
{{- end -}}
{{- range $c := include "magi.components" . | fromYamlArray -}}
{{- $v := index $.Values $c.key -}}
{{- if and $c.ingress $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- fail (printf "%s.ingress.enabled=true needs at least one entry in %s.ingress.hosts" $c.key $c.key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Environment of every MAGI container besides the ConfigMap: the secret settings.
*/}}
{{- define "magi.secretEnv" -}}
- name: MAGI_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "magi.secretName" . }}
      key: {{ if .Values.existingSecret }}{{ .Values.existingSecretKeys.amqpUrl }}{{ else }}MAGI_AMQP_URL{{ end }}
- name: MAGI_MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "magi.secretName" . }}
      key: {{ if .Values.existingSecret }}{{ .Values.existingSecretKeys.mongodbUri }}{{ else }}MAGI_MONGODB_URI{{ end }}
- name: MAGI_AUTH_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "magi.secretName" . }}
      key: {{ if .Values.existingSecret }}{{ .Values.existingSecretKeys.authTokens }}{{ else }}MAGI_AUTH_TOKENS{{ end }}
      optional: true
- name: MAGI_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "magi.secretName" . }}
      key: {{ if .Values.existingSecret }}{{ .Values.existingSecretKeys.secretKey }}{{ else }}MAGI_SECRET_KEY{{ end }}
{{- end -}}

{{/* The credential-sealing key: the value given, else the one already in the Secret, else a new random one. */}}
{{- define "magi.secretKey" -}}
{{- if not .Values.secretKey -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "magi.fullname" .) -}}
{{- if and $existing $existing.data (index $existing.data "MAGI_SECRET_KEY") -}}
{{- $_ := set .Values "secretKey" (index $existing.data "MAGI_SECRET_KEY" | b64dec) -}}
{{- else -}}
{{- $_ := set .Values "secretKey" (randAlphaNum 43) -}}
{{- end -}}
{{- end -}}
{{- .Values.secretKey -}}
{{- end -}}
