{{/* Names, labels, images and environment shared by every template (Bitnami's common helpers
     are the model: release-scoped names, instance labels, required values that say what to set). */}}

{{/* The release's prefix: fullnameOverride, else the release name when it already says
     "gateway" (release `gateway` gives `gateway-…`), else <release>-gateway. */}}
{{- define "gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A resource of this release: (list $ "orders-api") → <fullname>-orders-api. */}}
{{- define "gateway.name" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "gateway.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: payment-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one workload: (list $ "orders" "api"). The instance label keeps two
     releases in one namespace apart. */}}
{{- define "gateway.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{ include "gateway.componentLabels" . }}
{{- end }}

{{/* The workload's own labels (gateway.selector without the instance), to add to
     gateway.labels: (list $ "orders" "api"). */}}
{{- define "gateway.componentLabels" -}}
app.kubernetes.io/name: {{ index . 1 }}
{{- if gt (len .) 2 }}
app.kubernetes.io/component: {{ index . 2 }}
{{- end }}
{{- end }}

{{/* Pod template metadata: labels (common, selector, podLabels) and podAnnotations. */}}
{{- define "gateway.podMetadata" -}}
{{- $root := index . 0 -}}
labels:
  {{- include "gateway.labels" $root | nindent 2 }}
  {{- include "gateway.componentLabels" . | nindent 2 }}
  {{- with $root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $root.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod's account: the gateway's, without a token. */}}
{{- define "gateway.serviceAccount" -}}
serviceAccountName: {{ include "gateway.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- end }}

{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Pod-level settings of every pod: pull secrets, scheduling.
     (list $ <selector args> spread): with spread, topology spread constraints over
     the pods the selector (gateway.selector's arguments) picks. */}}
{{- define "gateway.scheduling" -}}
{{- $root := index . 0 -}}
{{- $selector := index . 1 -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and $root.Values.topologySpread.enabled (index . 2) }}
topologySpreadConstraints:
  {{- range $root.Values.topologySpread.topologyKeys }}
  - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "gateway.selector" $selector | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  {{- end }}
{{- end }}
{{- end }}

{{/* gateway.scheduling, and the security context of the gateway's own images (uid 10001). */}}
{{- define "gateway.podSpec" -}}
{{ include "gateway.serviceAccount" (index . 0) }}
{{ include "gateway.scheduling" . }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end }}

{{/* Container security: nothing but what the kernel needs to exec the image's binary. `.add`:
     capabilities kept in the bounding set (the edge's, see edge.yaml). */}}
{{- define "gateway.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
  {{- with .add }}
  add: {{ toJson . }}
  {{- end }}
{{- end }}

{{/* A service's image: its own `image` (skaffold sets it), else
     <image.registry>payment-gateway/<service>:<image.tag, default the chart's appVersion>. */}}
{{- define "gateway.image" -}}
{{- if .service.image }}{{ .service.image }}{{ else }}{{ .root.Values.image.registry }}payment-gateway/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}{{ end }}
{{- end }}

{{/* An API version the cluster must serve (a CRD): (list $ "keda.sh/v1alpha1" "keda.enabled").
     Fails with what to do when neither the cluster (helm install/upgrade) nor `apiVersions`
     (rendering without a cluster, like `helm template --api-versions`) has it. */}}
{{- define "gateway.requireApi" -}}
{{- $root := index . 0 }}
{{- $api := index . 1 }}
{{- if not (or ($root.Capabilities.APIVersions.Has $api) (has $api $root.Values.apiVersions)) }}
{{- fail (printf "%s needs the %s API, which the cluster does not serve: install its CRDs first, or turn %s off (rendering without a cluster: add %s to apiVersions, or pass helm template --api-versions %s)" (index . 2) $api (index . 2) $api $api) }}
{{- end }}
{{- end }}

{{/* Where Postgres is: the chart's own development server, else postgres.host. */}}
{{- define "gateway.postgresHost" -}}
{{- if .Values.devInfrastructure.enabled }}{{ include "gateway.name" (list . "postgres") }}{{ else }}{{ required "postgres.host is required: where the gateway's Postgres is" .Values.postgres.host }}{{ end }}
{{- end }}

{{/* The Secret with each service's database password (one key per service). */}}
{{- define "gateway.dbSecret" -}}
{{- with .Values.postgres }}
{{- if and .existingSecret .passwords }}
{{- fail "postgres: set existingSecret or passwords, not both" }}
{{- end }}
{{- if .passwords }}{{ include "gateway.name" (list $ "db") }}{{ else }}{{ required "postgres.existingSecret is required: the name of a Secret with one key per service (merchants, orders, payments, refunds, webhooks) holding that service's Postgres password (or set postgres.passwords in development values)" .existingSecret }}{{ end }}
{{- end }}
{{- end }}

{{/* redis.url, or the chart's own development server's. Holds no credentials. */}}
{{- define "gateway.redisUrl" -}}
{{- if .Values.devInfrastructure.enabled }}redis://{{ include "gateway.name" (list . "redis") }}:6379/0{{ else }}{{ .Values.redis.url }}{{ end }}
{{- end }}

{{/* The Secret holding the Redis password (key redis.passwordKey): an existing one, the
     chart's own made from redis.password (development), or none (empty). */}}
{{- define "gateway.redisSecret" -}}
{{- with .Values.redis }}
{{- if and .existingSecret .password }}
{{- fail "redis: set existingSecret or password, not both" }}
{{- end }}
{{- if contains ":" (urlParse .url).userinfo }}
{{- fail "redis.url must hold no password: put it in a Secret (redis.existingSecret)" }}
{{- end }}
{{- if and .urlKey (not .existingSecret) }}
{{- fail "redis.urlKey needs redis.existingSecret: the Secret that holds the URL" }}
{{- end }}
{{- if .password }}{{ include "gateway.name" (list $ "redis") }}{{ else }}{{ .existingSecret }}{{ end }}
{{- end }}
{{- end }}

{{/* REDIS_URL and REDIS_PASSWORD of one service (.root, .name): the password reaches the
     process as it is in the Secret (any characters; kit puts it into the URL encoded), the URL
     from redis.url or, with redis.urlKey, from the Secret. With redis.perServiceUsers the URL
     names the service as its user and the password is the Secret's key of that name. */}}
{{- define "gateway.redisEnv" -}}
{{- $root := .root }}
{{- $redis := $root.Values.redis }}
{{- $secret := include "gateway.redisSecret" $root }}
{{- if $redis.perServiceUsers }}
{{- if $redis.urlKey }}
{{- fail "redis.perServiceUsers takes the URL from redis.url: unset redis.urlKey" }}
{{- end }}
{{- if not $secret }}
{{- fail "redis.perServiceUsers needs redis.existingSecret (a key per service) or redis.passwords" }}
{{- end }}
{{- $url := urlParse (include "gateway.redisUrl" $root) }}
- name: REDIS_URL
  value: {{ urlJoin (merge (dict "userinfo" .name) $url) | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ .name }}}
{{- else }}
{{- if $redis.urlKey }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $redis.urlKey }}}
{{- else }}
- name: REDIS_URL
  value: {{ include "gateway.redisUrl" $root | quote }}
{{- end }}
{{- if and $secret $redis.passwordKey }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $redis.passwordKey }}}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding INTERNAL_TOKEN (key `token`): an existing one, or the chart's own made
     from internalAuth.token (development). */}}
{{- define "gateway.internalSecret" -}}
{{- with .Values.internalAuth }}
{{- if and .existingSecret .token }}
{{- fail "internalAuth: set existingSecret or token, not both" }}
{{- end }}
{{- if .token }}{{ include "gateway.name" (list $ "internal") }}{{ else }}{{ required "internalAuth.existingSecret is required: the name of a Secret whose key `token` holds INTERNAL_TOKEN (or set internalAuth.token in development values)" .existingSecret }}{{ end }}
{{- end }}
{{- end }}

{{/* trustedProxyNetworks as a JSON list; required (the chart cannot know the pod network). */}}
{{- define "gateway.trustedProxies" -}}
{{- if not .Values.trustedProxyNetworks }}
{{- fail "trustedProxyNetworks is required: the networks of the proxies in front of the services (the ingress controller, the edge, the ui), usually the cluster's pod network, e.g. [10.244.0.0/16] on kind" }}
{{- end }}
{{- .Values.trustedProxyNetworks | toJson }}
{{- end }}

{{/* The environment shared by every API and worker, merged with a service's own `env`. */}}
{{- define "gateway.sharedEnv" -}}
{{- merge (dict) (.service.env | default dict) .root.Values.env | toJson }}
{{- end }}

{{/* Environment of one service's API, worker and migration (.component: api, worker, migrate). */}}
{{- define "gateway.env" -}}
{{- $root := .root }}
{{- $env := include "gateway.sharedEnv" . | fromJson }}
{{- range $reserved := list "DATABASE_URL" "PGPASSWORD" "REDIS_URL" "REDIS_PASSWORD" "INTERNAL_TOKEN" "CSRF_SECRET" "MESSAGE_SIGNING_KEY" "MESSAGE_VERIFY_KEYS" "TASK_TIMEOUT_SECONDS" "WORKER_STALL_SECONDS" "WORKER_METRICS_PORT" "TRUSTED_PROXY_NETWORKS" }}
{{- if hasKey $env $reserved }}
{{- fail (printf "env.%s is set by the chart from its own values (postgres, redis, internalAuth, ui, worker): set those instead" $reserved) }}
{{- end }}
{{- end }}
{{- if not (has (get $env "ENVIRONMENT") (list "dev" "test" "production")) }}
{{- fail "env.ENVIRONMENT is required: production, or dev on a development cluster; a process that does not know where it runs does not start" }}
{{- end }}
{{- /* The ui calls only the public API: no Redis, no internal token (least privilege). */}}
{{- if ne .name "ui" }}
{{- include "gateway.redisEnv" (dict "root" $root "name" .name) }}
{{- end }}
{{- range $other := list "merchants" "orders" "payments" }}
- name: {{ upper $other }}_URL
  value: "http://{{ include "gateway.name" (list $root (printf "%s-api" $other)) }}:8001"
{{- end }}
- name: API_URL
  value: "http://{{ include "gateway.name" (list $root "edge") }}:{{ $root.Values.edge.hosts.api | default 8000 }}"
- name: PUBLIC_API_URL
  value: {{ $root.Values.ui.publicApiUrl | quote }}
- name: PUBLIC_CHECKOUT_URL
  value: {{ $root.Values.ui.publicCheckoutUrl | quote }}
- name: WORKER_METRICS_PORT
  value: "8000"
- name: TRUSTED_PROXY_NETWORKS
  value: {{ include "gateway.trustedProxies" $root | fromJsonArray | join "," | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
{{- if eq .component "worker" }}
{{- /* Stream messages are signed (kit.signing): a worker's secret and the keys of the
       messages sent to it, from messageSigning's Secret (`<service>`, `<service>-verify`).
       Unset outside production: the development keys. Production refuses to render without. */}}
{{- $signing := $root.Values.messageSigning }}
{{- if and (eq (get $env "ENVIRONMENT") "production") (not $signing.existingSecret) }}
{{- fail "messageSigning.existingSecret is required when ENVIRONMENT=production: a Secret with each worker's MESSAGE_SIGNING_KEY under its service name and its MESSAGE_VERIFY_KEYS under <service>-verify (python -m kit.signing makes them)" }}
{{- end }}
{{- if $signing.existingSecret }}
- name: MESSAGE_SIGNING_KEY
  valueFrom:
    secretKeyRef: {name: {{ $signing.existingSecret }}, key: {{ .name }}}
- name: MESSAGE_VERIFY_KEYS
  valueFrom:
    secretKeyRef: {name: {{ $signing.existingSecret }}, key: {{ .name }}-verify}
{{- end }}
- name: TASK_TIMEOUT_SECONDS
  value: {{ $root.Values.worker.taskTimeoutSeconds | quote }}
- name: WORKER_STALL_SECONDS
  value: {{ $root.Values.worker.stallSeconds | quote }}
{{- end }}
{{- if and (ne .component "migrate") (ne .name "ui") }}
- name: INTERNAL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "gateway.internalSecret" $root }}
      key: token
{{- end }}
{{- if eq .name "merchants" }}
- name: HEALTH_WORKERS
  value: {{ include "gateway.workerNames" $root | quote }}
{{- end }}
{{- range $key, $value := $env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- if eq .name "ui" }}
{{- $production := eq (get $env "ENVIRONMENT") "production" }}
{{- if $root.Values.ui.csrfSecret }}
- name: CSRF_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "gateway.name" (list $root "ui") }}, key: csrf-secret}
{{- else if or $root.Values.ui.existingSecret $production }}
- name: CSRF_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "ui.existingSecret is required when ENVIRONMENT=production: a Secret whose key `csrf-secret` (32+ random characters) signs the dashboard's CSRF tokens" $root.Values.ui.existingSecret }}
      key: csrf-secret
{{- end }}
{{- end }}
{{- if .service.database }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "gateway.dbSecret" $root }}
      key: {{ .name }}
- name: DATABASE_URL
  value: "postgresql://{{ .name }}@{{ include "gateway.postgresHost" $root }}:{{ $root.Values.postgres.port }}/{{ $root.Values.postgres.database }}?sslmode={{ $root.Values.postgres.sslmode }}"
{{- end }}
{{- end }}

{{/* The workers this release runs, comma-separated (what merchants' /health watches). */}}
{{- define "gateway.workerNames" -}}
{{- $names := list }}
{{- range $name, $service := .Values.services }}
{{- if and $service.enabled $service.worker.enabled }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- join "," $names }}
{{- end }}
