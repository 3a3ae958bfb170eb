{{/* Names and labels. */}}
{{- define "netsensor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "netsensor.fullname" -}}
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

{{- define "netsensor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netsensor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "netsensor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "netsensor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: sensor
{{- end -}}

{{- define "netsensor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "netsensor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "netsensor.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the chart mounts things inside the container. */}}
{{- define "netsensor.dataDir" -}}/var/lib/netsensor{{- end -}}
{{- define "netsensor.secretDir" -}}/etc/netsensor/secrets{{- end -}}
{{- define "netsensor.geoipDir" -}}/usr/share/netsensor/geoip{{- end -}}

{{/*
Refuses value combinations that would deploy a sensor that cannot work or exposes what it
must not. Each failure is one sentence naming the values to change.
*/}}
{{- define "netsensor.validate" -}}
{{- $v := .Values -}}
{{- if not $v.config.captures -}}
{{- fail "config.captures is empty: a sensor DaemonSet without a capture records nothing; list at least one interface." -}}
{{- end -}}
{{- range $i, $c := $v.config.captures -}}
{{- if and (hasKey $c "interface") (hasKey $c "interfaces") -}}
{{- fail (printf "config.captures[%d] has both interface and interfaces: give one name or glob as interface, or a list of globs as interfaces." $i) -}}
{{- end -}}
{{- if not (or (hasKey $c "interface") (hasKey $c "interfaces")) -}}
{{- fail (printf "config.captures[%d] names no interface: give interface (a name or glob) or interfaces (globs, ! excludes). A captures list in your values replaces the chart's default list, so give each capture whole." $i) -}}
{{- end -}}
{{- $includes := 0 -}}
{{- range $c.interfaces | default list -}}
{{- if not (hasPrefix "!" .) -}}{{- $includes = add1 $includes -}}{{- end -}}
{{- end -}}
{{- if and (hasKey $c "interfaces") (eq $includes 0) -}}
{{- fail (printf "config.captures[%d].interfaces has only exclusions: add at least one pattern without ! (e.g. eth*)." $i) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.storage.type "persistentVolumeClaim") (not $v.storage.persistentVolumeClaim.claimName) -}}
{{- fail "storage.type is persistentVolumeClaim but storage.persistentVolumeClaim.claimName is empty: name an existing ReadWriteMany claim, or use storage.type hostPath." -}}
{{- end -}}
{{- $es := $v.config.outputs.elasticsearch -}}
{{- if $es.enabled -}}
{{- if and $v.elasticsearch.apiKeySecret.name $v.elasticsearch.passwordSecret.name -}}
{{- fail "elasticsearch.apiKeySecret and elasticsearch.passwordSecret are both set: the sensor authenticates with one of them; keep only one." -}}
{{- end -}}
{{- if not (or $v.elasticsearch.apiKeySecret.name $v.elasticsearch.passwordSecret.name) -}}
{{- fail "config.outputs.elasticsearch.enabled is true but no credentials are given: set elasticsearch.apiKeySecret.name (an API key, preferred) or elasticsearch.passwordSecret.name with config.outputs.elasticsearch.username." -}}
{{- end -}}
{{- if and $v.elasticsearch.passwordSecret.name (not $es.username) -}}
{{- fail "elasticsearch.passwordSecret is set but config.outputs.elasticsearch.username is null: basic auth needs the user name too." -}}
{{- end -}}
{{- range $es.urls -}}
{{- if and (hasPrefix "http://" .) (or $v.elasticsearch.apiKeySecret.name $v.elasticsearch.passwordSecret.name) -}}
{{- fail (printf "config.outputs.elasticsearch.urls has %s: credentials would cross the network in clear text; use https://." .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $k := $v.config.outputs.kafka -}}
{{- if $k.enabled -}}
{{- $proto := $k.security.protocol -}}
{{- if and (hasPrefix "sasl_" $proto) (not $v.kafka.passwordSecret.name) -}}
{{- fail (printf "config.outputs.kafka.security.protocol is %s but kafka.passwordSecret.name is empty: SASL needs the user's password from a Secret." $proto) -}}
{{- end -}}
{{- if and (hasPrefix "sasl_" $proto) (not (and $k.security.sasl_mechanism $k.security.username)) -}}
{{- fail "config.outputs.kafka.security: a sasl_* protocol needs sasl_mechanism and username." -}}
{{- end -}}
{{- if and (or (eq $proto "plaintext") (eq $proto "sasl_plaintext")) $v.kafka.passwordSecret.name -}}
{{- fail (printf "config.outputs.kafka.security.protocol is %s: the password would cross the network in clear text; use sasl_ssl." $proto) -}}
{{- end -}}
{{- end -}}
{{- $g := $v.geoip -}}
{{- if ne $g.source "none" -}}
{{- if not (or $g.files.country $g.files.city $g.files.asn) -}}
{{- fail (printf "geoip.source is %s but geoip.files names no database: set geoip.files.country, city or asn to a file name in the source, or geoip.source none." $g.source) -}}
{{- end -}}
{{- if and (eq $g.source "persistentVolumeClaim") (not $g.persistentVolumeClaim.claimName) -}}
{{- fail "geoip.source is persistentVolumeClaim but geoip.persistentVolumeClaim.claimName is empty: name an existing claim holding the .mmdb files." -}}
{{- end -}}
{{- if and (eq $g.source "secret") (not $g.secret.name) -}}
{{- fail "geoip.source is secret but geoip.secret.name is empty: name an existing Secret with the .mmdb files as keys." -}}
{{- end -}}
{{- if and (eq $g.source "configMap") (not $g.configMap.name) -}}
{{- fail "geoip.source is configMap but geoip.configMap.name is empty: name an existing ConfigMap with the .mmdb files as binaryData keys." -}}
{{- end -}}
{{- end -}}
{{- with $v.config.pipeline.overload -}}
{{- if ge (float64 .low_watermark) (float64 .high_watermark) -}}
{{- fail (printf "config.pipeline.overload.low_watermark (%v) must be below high_watermark (%v): sampling starts above the high mark and stops under the low one." .low_watermark .high_watermark) -}}
{{- end -}}
{{- end -}}
{{- $workers := $v.config.pipeline.workers -}}
{{- if not (kindIs "string" $workers) -}}
{{- $cpu := toString $v.resources.limits.cpu -}}
{{- $milli := 0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $milli = trimSuffix "m" $cpu | int -}}
{{- else -}}
{{- $milli = mulf (float64 $cpu) 1000 | int -}}
{{- end -}}
{{- if lt $milli (mul (int $workers) 1000) -}}
{{- fail (printf "resources.limits.cpu (%s) is below config.pipeline.workers (%d): each worker needs a core, or the kernel throttles them and the capture drops; set the limit to workers + 1, or use workers: auto (one per core of the limit)." $cpu (int $workers)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.metrics.serviceMonitor.enabled (not $v.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes through the metrics Service." -}}
{{- end -}}
{{- end -}}

{{/*
The sensor's YAML. The metrics address carries the placeholder __POD_IP__, which the
config init container replaces with the pod's IP from the downward API.
*/}}
{{- define "netsensor.config" -}}
{{- $v := .Values -}}
{{- $cfg := deepCopy $v.config -}}
{{- $_ := set $cfg.sensor "data_directory" (include "netsensor.dataDir" .) -}}
{{- $listeners := dict "metrics" (dict "address" (printf "__POD_IP__:%d" (int $v.metrics.port))) -}}
{{- if $v.query.enabled -}}
{{- $_ := set $listeners "query" (dict "address" (printf "127.0.0.1:%d" (int $v.query.port))) -}}
{{- else -}}
{{- $_ := set $listeners "query" nil -}}
{{- end -}}
{{- $_ := set $cfg "listeners" $listeners -}}
{{- $es := $cfg.outputs.elasticsearch -}}
{{- $sd := include "netsensor.secretDir" . -}}
{{- if $v.elasticsearch.apiKeySecret.name -}}
{{- $_ := set $es "api_key" (dict "file" (printf "%s/elasticsearch-api-key/%s" $sd $v.elasticsearch.apiKeySecret.key)) -}}
{{- end -}}
{{- if $v.elasticsearch.passwordSecret.name -}}
{{- $_ := set $es "password" (dict "file" (printf "%s/elasticsearch-password/%s" $sd $v.elasticsearch.passwordSecret.key)) -}}
{{- end -}}
{{- if $v.elasticsearch.caSecret.name -}}
{{- $_ := set $es "ca_file" (printf "%s/elasticsearch-ca/%s" $sd $v.elasticsearch.caSecret.key) -}}
{{- end -}}
{{- $ks := $cfg.outputs.kafka.security -}}
{{- if $v.kafka.passwordSecret.name -}}
{{- $_ := set $ks "password" (dict "file" (printf "%s/kafka-password/%s" $sd $v.kafka.passwordSecret.key)) -}}
{{- end -}}
{{- if $v.kafka.caSecret.name -}}
{{- $_ := set $ks "ca_file" (printf "%s/kafka-ca/%s" $sd $v.kafka.caSecret.key) -}}
{{- end -}}
{{- if ne $v.geoip.source "none" -}}
{{- $gd := include "netsensor.geoipDir" . -}}
{{- $geo := dict -}}
{{- range $kind := list "country" "city" "asn" -}}
{{- $file := index $v.geoip.files $kind -}}
{{- $_ := set $geo (printf "%s_database" $kind) (ternary (printf "%s/%s" $gd $file) nil (ne $file "")) -}}
{{- end -}}
{{- $_ := set $cfg.enrichment "geoip" $geo -}}
{{- end -}}
{{- if $v.pseudonymizeKeySecret.name -}}
{{- $_ := set $cfg.privacy "pseudonymize" (dict "key" (dict "file" (printf "%s/pseudonymize/%s" $sd $v.pseudonymizeKeySecret.key))) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Container security context: (list $ capabilitiesToAdd). */}}
{{- define "netsensor.containerSecurityContext" -}}
{{- $ := index . 0 -}}
{{- $add := index . 1 -}}
runAsNonRoot: true
runAsUser: {{ $.Values.runAsUser }}
runAsGroup: {{ $.Values.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
seccompProfile:
  type: RuntimeDefault
capabilities:
  drop: [ALL]
  {{- if $add }}
  add: {{ toJson $add }}
  {{- end }}
{{- end -}}

{{/* The config template, the rendered config and the credential files. */}}
{{- define "netsensor.configMounts" -}}
{{- $sd := include "netsensor.secretDir" . -}}
- name: template
  mountPath: /etc/netsensor/template
  readOnly: true
- name: run
  mountPath: /run/netsensor
{{- range $name, $s := include "netsensor.secretVolumes" . | fromYaml }}
{{- if $s.name }}
- name: {{ $name }}
  mountPath: {{ $sd }}/{{ $name }}
  readOnly: true
{{- end }}
{{- end }}
{{- if .Values.pseudonymizeKeySecret.name }}
- name: pseudonymize
  mountPath: {{ $sd }}/pseudonymize
  readOnly: true
{{- end }}
{{- if ne .Values.geoip.source "none" }}
- name: geoip
  mountPath: {{ include "netsensor.geoipDir" . }}
  readOnly: true
  {{- with .Values.geoip.persistentVolumeClaim.subPath }}{{ if eq $.Values.geoip.source "persistentVolumeClaim" }}
  subPath: {{ . }}
  {{- end }}{{ end }}
{{- end }}
{{- end -}}

{{/* The GeoIP volume: only the named files of a Secret or ConfigMap, else the directory. */}}
{{- define "netsensor.geoipVolume" -}}
{{- $g := .Values.geoip -}}
{{- $items := list -}}
{{- range $kind := list "country" "city" "asn" -}}
{{- with index $g.files $kind -}}
{{- $items = append $items (dict "key" . "path" .) -}}
{{- end -}}
{{- end -}}
- name: geoip
{{- if eq $g.source "hostPath" }}
  hostPath:
    path: {{ $g.hostPath.path }}
    type: Directory
{{- else if eq $g.source "persistentVolumeClaim" }}
  persistentVolumeClaim:
    claimName: {{ $g.persistentVolumeClaim.claimName }}
    readOnly: true
{{- else if eq $g.source "secret" }}
  secret:
    secretName: {{ $g.secret.name }}
    defaultMode: 0444
    items: {{ toJson $items }}
{{- else if eq $g.source "configMap" }}
  configMap:
    name: {{ $g.configMap.name }}
    defaultMode: 0444
    items: {{ toJson $items }}
{{- end }}
{{- end -}}

{{/* The credential Secrets, by volume name. */}}
{{- define "netsensor.secretVolumes" -}}
{{- $v := .Values -}}
{{- toYaml (dict "elasticsearch-api-key" $v.elasticsearch.apiKeySecret "elasticsearch-password" $v.elasticsearch.passwordSecret "elasticsearch-ca" $v.elasticsearch.caSecret "kafka-password" $v.kafka.passwordSecret "kafka-ca" $v.kafka.caSecret) -}}
{{- end -}}
