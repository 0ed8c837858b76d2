{{- define "gateway.labels" -}}
app.kubernetes.io/part-of: payment-gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{/* A service's image: its own `image` (skaffold sets it), else registry/payment-gateway/<name>:tag. */}}
{{- define "gateway.image" -}}
{{- if .service.image }}{{ .service.image }}{{ else }}{{ .root.Values.image.registry }}payment-gateway/{{ .name }}:{{ .root.Values.image.tag }}{{ end }}
{{- end }}

{{- define "gateway.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "gateway.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end }}

{{/* The Secret holding INTERNAL_TOKEN (key `token`): an existing one, or the chart's own made
     from internalAuth.token (development). */}}
{{- define "gateway.internalSecret" -}}
{{- with .Values.internalAuth }}
{{- if and .existingSecret .token }}
{{- fail "internalAuth: set existingSecret or token, not both" }}
{{- end }}
{{- if .token }}gateway-internal{{ else }}{{ required "internalAuth.existingSecret is required: the name of a Secret whose key `token` holds INTERNAL_TOKEN (or set internalAuth.token in development values)" .existingSecret }}{{ end }}
{{- end }}
{{- end }}

{{/* The Secret holding the Redis password (key `password`): an existing one, the chart's own
     made from redis.password (development), or none (empty). */}}
{{- define "gateway.redisSecret" -}}
{{- with .Values.redis }}
{{- if and .existingSecret .password }}
{{- fail "redis: set existingSecret or password, not both" }}
{{- end }}
{{- if and (or .existingSecret .password) (contains "@" .url) }}
{{- fail "redis.url must hold no credentials when the password comes from a Secret" }}
{{- end }}
{{- if .password }}gateway-redis{{ else }}{{ .existingSecret }}{{ end }}
{{- end }}
{{- end }}

{{/* REDIS_URL: redis.url, with `:$(REDIS_PASSWORD)@` after the scheme when there is a password
     (Kubernetes expands it from the REDIS_PASSWORD variable listed before). */}}
{{- define "gateway.redisEnv" -}}
{{- $secret := include "gateway.redisSecret" . }}
{{- if $secret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: password
{{- $url := splitn "://" 2 .Values.redis.url }}
- name: REDIS_URL
  value: {{ printf "%s://:$(REDIS_PASSWORD)@%s" $url._0 $url._1 | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- end }}
{{- end }}

{{/* Environment of one service's API, worker and migration (.component: api, worker, migrate). */}}
{{- define "gateway.env" -}}
{{- $root := .root }}
{{- include "gateway.redisEnv" $root }}
{{- range $other := list "merchants" "orders" "payments" }}
- name: {{ upper $other }}_URL
  value: "http://{{ $other }}-api:8001"
{{- end }}
- name: API_URL
  value: "http://edge:8000"
- name: PUBLIC_API_URL
  value: {{ $root.Values.ui.publicApiUrl | quote }}
- name: PUBLIC_CHECKOUT_URL
  value: {{ $root.Values.ui.publicCheckoutUrl | quote }}
- name: WORKER_METRICS_PORT
  value: "8000"
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
{{- if ne .component "migrate" }}
- name: INTERNAL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "gateway.internalSecret" $root }}
      key: token
{{- end }}
{{- if eq .name "merchants" }}
- name: HEALTH_WORKERS
  value: "orders,payments,refunds,webhooks"
{{- end }}
{{- range $key, $value := merge (dict) (.service.env | default dict) $root.Values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- if eq .name "ui" }}
- name: CSRF_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ default "gateway-ui" $root.Values.ui.existingSecret }}
      key: csrf-secret
      optional: true  # required only when ENVIRONMENT=production: the UI then refuses to start
{{- end }}
{{- if .service.database }}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default "gateway-db" $root.Values.postgres.existingSecret }}
      key: {{ .name }}
- name: DATABASE_URL
  value: "postgresql://{{ .name }}:$(DB_PASSWORD)@{{ $root.Values.postgres.host }}:{{ $root.Values.postgres.port }}/{{ $root.Values.postgres.database }}"
{{- end }}
{{- end }}
