{{/* Names and labels. */}}
{{- define "stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Short: ECK and Strimzi derive longer names (<name>-es-http-certs-public) from it. */}}
{{- define "stack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "stack.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "stack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netsensor
{{- end -}}

{{- define "stack.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "stack.kubectlImage" -}}
{{- $i := .Values.setup.kubectlImage -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository $i.tag -}}
{{- end -}}
{{- end -}}

{{- define "stack.es" -}}{{ include "stack.fullname" . }}{{- end -}}
{{- define "stack.kb" -}}{{ include "stack.fullname" . }}{{- end -}}
{{- define "stack.esUrl" -}}https://{{ include "stack.es" . }}-es-http.{{ .Release.Namespace }}.svc:9200{{- end -}}
{{- define "stack.kbUrl" -}}https://{{ include "stack.kb" . }}-kb-http.{{ .Release.Namespace }}.svc:5601{{- end -}}

{{/* Refuses value combinations that cannot work, with one sentence each. */}}
{{- define "stack.validate" -}}
{{- $v := .Values -}}
{{- $total := 0 -}}
{{- range $v.elasticsearch.nodeSets }}{{ $total = add $total .count }}{{ end -}}
{{- if eq (int $total) 2 -}}
{{- fail "elasticsearch.nodeSets add up to 2 nodes: two master-eligible nodes cannot survive the loss of either; use 1 (no redundancy) or 3 or more." -}}
{{- end -}}
{{- if and $v.kafka.enabled (gt (int $v.kafka.topics.replicas) (int $v.kafka.replicas)) -}}
{{- fail (printf "kafka.topics.replicas (%d) is more than kafka.replicas (%d): Kafka cannot place more replicas than it has brokers." (int $v.kafka.topics.replicas) (int $v.kafka.replicas)) -}}
{{- end -}}
{{- if and $v.setup.kibanaObjects (not $v.kibana.enabled) -}}
{{- fail "setup.kibanaObjects needs kibana.enabled: the setup Job imports the saved objects into this chart's Kibana." -}}
{{- end -}}
{{- if and $v.watch.enabled (not $v.setup.enabled) -}}
{{- fail "watch.enabled needs setup.enabled: the watch CronJob acts on the data streams that setup creates." -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security contexts of the admin Jobs. */}}
{{- define "stack.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "stack.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment of netsensor-admin: the cluster URL, CA and the elastic user's password. */}}
{{- define "stack.adminEnv" -}}
- name: NETSENSOR_ES_URL
  value: {{ include "stack.esUrl" . | quote }}
- name: NETSENSOR_ES_USERNAME
  value: elastic
- name: NETSENSOR_ES_PASSWORD_FILE
  value: /etc/netsensor/elastic/elastic
- name: NETSENSOR_ES_CA_FILE
  value: /etc/netsensor/es-ca/ca.crt
{{- end -}}

{{- define "stack.adminMounts" -}}
- name: elastic-user
  mountPath: /etc/netsensor/elastic
  readOnly: true
- name: es-ca
  mountPath: /etc/netsensor/es-ca
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "stack.adminVolumes" -}}
- name: elastic-user
  secret:
    secretName: {{ include "stack.es" . }}-es-elastic-user
    defaultMode: 0440
- name: es-ca
  secret:
    secretName: {{ include "stack.es" . }}-es-http-certs-public
    defaultMode: 0444
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}
