{{/*
Named templates. The ones documented as "injectable" take a context with
.Values (this chart's values) and .Release only, so a parent chart that lists
respcache as a dependency can call them from its own pod template with
  (dict "Values" .Values.respcache "Release" .Release)
and get exactly what the example Deployment gets (README "Helm").
*/}}

{{/* respcache.name: the base name of every object. */}}
{{- define "respcache.name" -}}
{{- .Values.nameOverride | default "respcache" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* respcache.fullname: "<release>-respcache" unless overridden. */}}
{{- define "respcache.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "respcache.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* respcache.configName: the ConfigMap holding respcache.yaml. */}}
{{- define "respcache.configName" -}}
{{- printf "%s-config" (include "respcache.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "respcache.labels" -}}
app.kubernetes.io/name: {{ include "respcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* respcache.exampleSelector: the example workload's pod labels. */}}
{{- define "respcache.exampleSelector" -}}
app.kubernetes.io/name: {{ include "respcache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: example
{{- end -}}

{{/*
respcache.mib: a size (respcache's "256MiB"/"1GB"/bytes, or Kubernetes'
"384Mi") in MiB, rounded up. Fails on anything else, including a number
Helm has turned into a float.
*/}}
{{- define "respcache.mib" -}}
{{- $s := . | toString | trim | lower -}}
{{- if not (regexMatch "^[0-9]+ *[a-z]*$" $s) -}}
{{- fail (printf "respcache: cannot read the size %q (write sizes with a unit, e.g. 256MiB: Helm turns a bare number from a values file into a float)" (toString .)) -}}
{{- end -}}
{{- $num := regexFind "^[0-9]+" $s -}}
{{- $unit := trimPrefix $num $s | trim -}}
{{- $mult := dict "" 1 "b" 1 "kib" 1024 "ki" 1024 "mib" 1048576 "mi" 1048576 "gib" 1073741824 "gi" 1073741824 "kb" 1000 "k" 1000 "mb" 1000000 "m" 1000000 "gb" 1000000000 "g" 1000000000 -}}
{{- if not (hasKey $mult $unit) -}}
{{- fail (printf "respcache: cannot read the size %q (units: KiB MiB GiB KB MB GB, or Ki Mi Gi)" (toString .)) -}}
{{- end -}}
{{- div (add (mul ($num | int64) (get $mult $unit)) 1048575) 1048576 -}}
{{- end -}}

{{/*
respcache.memoryLimitMiB: the container's memory limit in MiB. Set by
resources.limits.memory, else cache.max_memory + fixed overhead + connection
buffers but at least 1.25 x cache.max_memory, plus the disk engine's block
cache and memtable with the disk backend (README "Memory"). Fails below
1.25 x cache.max_memory.
*/}}
{{- define "respcache.memoryLimitMiB" -}}
{{- $cfg := .Values.config | default dict -}}
{{- $cache := $cfg.cache | default dict -}}
{{- $quota := include "respcache.mib" ($cache.max_memory | default "256MiB") | int64 -}}
{{- $res := .Values.resources | default dict -}}
{{- $limits := $res.limits | default dict -}}
{{- $limit := 0 -}}
{{- if $limits.memory -}}
{{- $limit = include "respcache.mib" $limits.memory | int64 -}}
{{- else -}}
{{- $limit = max (add $quota .Values.memory.fixedOverheadMiB .Values.memory.connectionBuffersMiB) (div (mul $quota 5) 4) -}}
{{- $backend := $cfg.backend | default dict -}}
{{- if eq ($backend.type | default "disk") "disk" -}}
{{- $disk := $backend.disk | default dict -}}
{{- $limit = add $limit (include "respcache.mib" ($disk.block_cache | default "64MiB")) (include "respcache.mib" ($disk.memtable | default "64MiB")) -}}
{{- end -}}
{{- end -}}
{{- if lt (mul $limit 4) (mul $quota 5) -}}
{{- fail (printf "respcache: memory limit %dMi is below 1.25 x cache.max_memory (%dMi); see README \"Memory\"" ($limit | int64) $quota) -}}
{{- end -}}
{{- $limit -}}
{{- end -}}

{{/* respcache.gomemlimit: memory.gomemlimitPercent of the limit, e.g. "345MiB". */}}
{{- define "respcache.gomemlimit" -}}
{{- $limit := include "respcache.memoryLimitMiB" . | int64 -}}
{{- printf "%dMiB" (div (mul $limit .Values.memory.gomemlimitPercent) 100) -}}
{{- end -}}

{{/* respcache.resources: .Values.resources with the computed memory filled in. */}}
{{- define "respcache.resources" -}}
{{- $mem := printf "%sMi" (include "respcache.memoryLimitMiB" .) -}}
{{- $res := deepCopy (.Values.resources | default dict) -}}
{{- $limits := $res.limits | default dict -}}
{{- if not $limits.memory -}}{{- $_ := set $limits "memory" $mem -}}{{- end -}}
{{- $requests := $res.requests | default dict -}}
{{- if not $requests.memory -}}{{- $_ := set $requests "memory" ($limits.memory | toString) -}}{{- end -}}
{{- $_ := set $res "limits" $limits -}}
{{- $_ := set $res "requests" $requests -}}
{{- toYaml $res -}}
{{- end -}}

{{/*
respcache.checkConfig: fails on values the pod cannot work with. Renders
nothing.
*/}}
{{- define "respcache.checkConfig" -}}
{{- $cfg := .Values.config | default dict -}}
{{- $admin := $cfg.admin_listen | default "127.0.0.1:9380" | toString -}}
{{- $port := regexFind "[0-9]+$" $admin -}}
{{- if ne $port (toString .Values.adminPort) -}}
{{- fail (printf "respcache: config.admin_listen %q must use adminPort %v (probes, metrics and drain use it)" $admin .Values.adminPort) -}}
{{- end -}}
{{- if or (hasPrefix "127." $admin) (hasPrefix "localhost:" $admin) (hasPrefix "[::1]" $admin) -}}
{{- fail (printf "respcache: config.admin_listen %q is loopback-only; the kubelet's probes and Prometheus come in on the pod address (use 0.0.0.0:%v)" $admin .Values.adminPort) -}}
{{- end -}}
{{- $backend := $cfg.backend | default dict -}}
{{- $disk := $backend.disk | default dict -}}
{{- $dir := $disk.dir | default "./data" -}}
{{- if not (has $dir (list "./data" "data" "/var/lib/respcache/data")) -}}
{{- fail (printf "respcache: config.backend.disk.dir %q is not the data volume's mount path /var/lib/respcache/data (the root filesystem is read-only)" $dir) -}}
{{- end -}}
{{- $write := $cfg.write | default dict -}}
{{- $jdir := $write.journal_dir | default "./journal" -}}
{{- if not (has $jdir (list "./journal" "journal" "/var/lib/respcache/journal")) -}}
{{- fail (printf "respcache: config.write.journal_dir %q is not the journal volume's mount path /var/lib/respcache/journal (the root filesystem is read-only)" $jdir) -}}
{{- end -}}
{{- end -}}

{{/* respcache.configYAML: the respcache.yaml file. */}}
{{- define "respcache.configYAML" -}}
{{- include "respcache.checkConfig" . -}}
{{- toYaml (.Values.config | default dict) -}}
{{- end -}}

{{/*
respcache.podAnnotations (injectable): rolls the pods when the config
changes, and the prometheus.io/* scrape annotations.
*/}}
{{- define "respcache.podAnnotations" -}}
checksum/respcache-config: {{ include "respcache.configYAML" . | sha256sum }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.adminPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
respcache.sidecar (injectable): the native sidecar, one item of a pod's
initContainers list.
*/}}
{{- define "respcache.sidecar" -}}
{{- include "respcache.checkConfig" . -}}
- name: respcache
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  # restartPolicy Always on an init container makes it a native sidecar
  # (Kubernetes >= 1.29): started before the application, stopped after it.
  restartPolicy: Always
  args: ["--config", "/etc/respcache/respcache.yaml"]
  ports:
    - name: admin
      containerPort: {{ .Values.adminPort }}
      protocol: TCP
  env:
    - name: GOMEMLIMIT
      value: {{ include "respcache.gomemlimit" . | quote }}
    {{- with .Values.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- include "respcache.resources" . | nindent 4 }}
  # Port numbers, not names: named ports of sidecars are not resolved
  # everywhere before Kubernetes 1.32.
  startupProbe:
    httpGet:
      path: /healthz
      port: {{ .Values.adminPort }}
    {{- toYaml .Values.probes.startup | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ .Values.adminPort }}
    {{- toYaml .Values.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ .Values.adminPort }}
    {{- toYaml .Values.probes.readiness | nindent 4 }}
  {{- if .Values.drain.enabled }}
  lifecycle:
    preStop:
      exec:
        # POST /drain: flush every dirty write-back entry to the store.
        command: ["/usr/local/bin/respcache", "drain", "--config", "/etc/respcache/respcache.yaml"]
  {{- end }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: respcache-config
      mountPath: /etc/respcache
      readOnly: true
    - name: respcache-data
      mountPath: /var/lib/respcache/data
    - name: respcache-journal
      mountPath: /var/lib/respcache/journal
{{- end -}}

{{/* respcache.volumes (injectable): items of the pod's volumes list. */}}
{{- define "respcache.volumes" -}}
- name: respcache-config
  configMap:
    name: {{ include "respcache.configName" . }}
- name: respcache-data
  {{- toYaml .Values.volumes.data | nindent 2 }}
- name: respcache-journal
  {{- toYaml .Values.volumes.journal | nindent 2 }}
{{- end -}}
