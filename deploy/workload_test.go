package deploy

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The contract between the manifests and the image.
const (
	nonrootUID       = 65532 // distroless "nonroot", the Dockerfile's USER
	respcacheBinary  = "/usr/local/bin/respcache"
	healthPath       = "/healthz"
	readyPath        = "/readyz"
	metricsPath      = "/metrics"
	defaultGraceSecs = 30 // Kubernetes' default terminationGracePeriodSeconds
)

// checkRendering holds every workload of a rendering (kustomize output or
// helm template output) that carries respcache to the deploy/ contract, and
// returns how many it checked.
func checkRendering(t *testing.T, objs []object) int {
	t.Helper()
	n := 0
	for _, o := range objs {
		kind := str(o, "kind")
		if kind != "Deployment" && kind != "StatefulSet" {
			continue
		}
		if !hasRespcache(o) {
			continue
		}
		n++
		t.Run(kind+"/"+str(o, "metadata", "name"), func(t *testing.T) { checkWorkload(t, o, objs) })
	}
	return n
}

// isRespcacheImage reports whether container c runs a respcache image:
// the repository's last path element is respcache, whatever the registry
// (which may have a port), tag or digest.
func isRespcacheImage(c any) bool {
	repo, _, _ := strings.Cut(str(c, "image"), "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return path.Base(repo) == "respcache"
}

func hasRespcache(o object) bool {
	spec := get(o, "spec", "template", "spec")
	for _, c := range slices.Concat(list(spec, "initContainers"), list(spec, "containers")) {
		if isRespcacheImage(c) {
			return true
		}
	}
	return false
}

// checkOrder is the order checkWorkload reports inspectWorkload's checks in.
var checkOrder = []string{"sidecar", "config", "listeners", "probes", "preStop-drain", "security", "memory", "volumes", "shutdown", "metrics"}

// checkWorkload checks one Deployment or StatefulSet: inspectWorkload's
// findings as one subtest per check, plus the config's keys against the
// schema and the config package's verdict on it.
func checkWorkload(t *testing.T, w object, objs []object) {
	in := inspectWorkload(w, objs, imageWorkdir(t))
	for _, check := range checkOrder {
		t.Run(check, func(t *testing.T) {
			for _, p := range in.problems[check] {
				t.Error(p)
			}
		})
	}
	for check := range in.problems {
		if !slices.Contains(checkOrder, check) {
			t.Errorf("internal: check %q is not in checkOrder", check)
		}
	}
	if in.cfgText == "" {
		return
	}
	t.Run("config-schema", func(t *testing.T) {
		bad, err := unknownConfigKeys([]byte(in.cfgText))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range bad {
			t.Errorf("key %q is not in DESIGN.md's configuration contract", k)
		}
	})
	t.Run("config-loads", func(t *testing.T) {
		var read *effective
		if len(in.problems["config"]) == 0 {
			read = &in.cfg
		}
		checkConfigLoads(t, []byte(in.cfgText), in.env, read)
	})
}

// inspection is what inspectWorkload found.
type inspection struct {
	// problems maps a check (an element of checkOrder) to what is wrong.
	problems map[string][]string
	cfgText  string   // the respcache config file's text, when found
	env      []string // NAME=value of the sidecar's literal env entries
	cfg      effective
}

func (in *inspection) addf(check, format string, args ...any) {
	in.problems[check] = append(in.problems[check], fmt.Sprintf(format, args...))
}

// inspectWorkload holds a Deployment or StatefulSet that carries respcache,
// with the other objects of its rendering, to the deploy/ contract. workdir
// is the image's working directory, against which the config's relative
// paths resolve.
func inspectWorkload(w object, objs []object, workdir string) *inspection {
	in := &inspection{problems: map[string][]string{}}
	podSpec := get(w, "spec", "template", "spec")

	// The native sidecar: exactly one respcache init container with
	// restartPolicy Always, none among the regular containers, and an
	// application next to it.
	var sidecar any
	for _, c := range list(podSpec, "initContainers") {
		if isRespcacheImage(c) {
			if sidecar != nil {
				in.addf("sidecar", "two respcache init containers")
			}
			sidecar = c
		}
	}
	apps := 0
	for _, c := range list(podSpec, "containers") {
		if isRespcacheImage(c) {
			in.addf("sidecar", "respcache is a regular container (%s); it must be the native sidecar only", str(c, "name"))
		} else {
			apps++
		}
	}
	if apps == 0 {
		in.addf("sidecar", "no application container next to the sidecar")
	}
	if sidecar == nil {
		in.addf("sidecar", "no respcache init container: respcache must run as a native sidecar (initContainers, restartPolicy: Always)")
		return in
	}
	if rp := str(sidecar, "restartPolicy"); rp != "Always" {
		in.addf("sidecar", "respcache init container has restartPolicy %q; a native sidecar needs Always (Kubernetes >= 1.29)", rp)
	}

	// The config file: --config PATH, mounted from a ConfigMap.
	args := list(sidecar, "args")
	cfgPath := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--config" {
			cfgPath, _ = args[i+1].(string)
		}
	}
	if cfgPath == "" {
		in.addf("config", "respcache args %v lack --config FILE", args)
		return in
	}
	mount, vol := mountFor(sidecar, podSpec, w, path.Dir(cfgPath))
	if mount == nil || vol == nil {
		in.addf("config", "--config %s: no volume is mounted at %s", cfgPath, path.Dir(cfgPath))
		return in
	}
	if str(mount, "mountPath") != path.Dir(cfgPath) || str(mount, "subPath") != "" {
		in.addf("config", "config volume mounted at %q (subPath %q): mount the ConfigMap as the directory %s, so updates reach the file (a subPath mount never updates)",
			str(mount, "mountPath"), str(mount, "subPath"), path.Dir(cfgPath))
	}
	if ro, _ := boolean(mount, "readOnly"); !ro {
		in.addf("config", "config volume mount is not readOnly")
	}
	cmName := str(vol, "configMap", "name")
	i := findObject(objs, "ConfigMap", cmName)
	if cmName == "" || i < 0 {
		in.addf("config", "config volume %q is not a ConfigMap of this rendering (configMap.name %q)", str(vol, "name"), cmName)
		return in
	}
	in.cfgText = str(objs[i], "data", path.Base(cfgPath))
	if in.cfgText == "" {
		in.addf("config", "ConfigMap %s has no key %s", cmName, path.Base(cfgPath))
		return in
	}
	gomemlimit := ""
	for _, e := range list(sidecar, "env") {
		name, value := str(e, "name"), str(e, "value")
		if name == "GOMEMLIMIT" {
			gomemlimit = value
		}
		if get(e, "valueFrom") == nil {
			in.env = append(in.env, name+"="+value)
		}
	}
	cfg, err := effectiveConfig([]byte(in.cfgText), in.env)
	if err != nil {
		in.addf("config", "reading ConfigMap %s: %v", cmName, err)
		return in
	}
	in.cfg = cfg

	// Listeners: RESP on loopback for the application in the pod; admin on
	// every interface, on the declared admin port.
	if host, _, err := net.SplitHostPort(cfg.Listen); err != nil || !isLoopback(host) {
		in.addf("listeners", "listen %q: the RESP listener of a sidecar belongs on loopback (127.0.0.1:6380)", cfg.Listen)
	}
	adminPort := 0
	for _, p := range list(sidecar, "ports") {
		if str(p, "name") == "admin" {
			adminPort, _ = integer(p, "containerPort")
		}
	}
	if adminPort == 0 {
		in.addf("listeners", "the respcache container declares no port named admin")
	}
	host, port, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") || port != strconv.Itoa(adminPort) {
		in.addf("listeners", "admin_listen %q: want 0.0.0.0:%d, so the kubelet's probes and Prometheus reach it on the pod address", cfg.AdminListen, adminPort)
	}

	for _, p := range []struct{ probe, path string }{
		{"startupProbe", healthPath}, {"livenessProbe", healthPath}, {"readinessProbe", readyPath},
	} {
		h := get(sidecar, p.probe, "httpGet")
		if h == nil {
			in.addf("probes", "%s: missing or not httpGet", p.probe)
			continue
		}
		if got := str(h, "path"); got != p.path {
			in.addf("probes", "%s: path %q, want %q", p.probe, got, p.path)
		}
		if got := probePort(h, sidecar); got != adminPort {
			in.addf("probes", "%s: port %v, want the admin port %d", p.probe, get(h, "port"), adminPort)
		}
	}

	cmd := list(sidecar, "lifecycle", "preStop", "exec", "command")
	if want := []any{respcacheBinary, "drain", "--config", cfgPath}; !slices.Equal(cmd, want) {
		in.addf("preStop-drain", "preStop exec command %v, want %v", cmd, want)
	}

	pod := get(podSpec, "securityContext")
	sc := get(sidecar, "securityContext")
	eff := func(key ...string) any {
		if v := get(sc, key...); v != nil {
			return v
		}
		return get(pod, key...)
	}
	if v, _ := eff("runAsNonRoot").(bool); !v {
		in.addf("security", "runAsNonRoot is not true")
	}
	if uid, _ := integer(eff("runAsUser")); uid != nonrootUID {
		in.addf("security", "runAsUser %v, want %d (the image's nonroot user)", eff("runAsUser"), nonrootUID)
	}
	if v, _ := boolean(sc, "readOnlyRootFilesystem"); !v {
		in.addf("security", "readOnlyRootFilesystem is not true")
	}
	if v, ok := boolean(sc, "allowPrivilegeEscalation"); !ok || v {
		in.addf("security", "allowPrivilegeEscalation is not false")
	}
	if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
		in.addf("security", "capabilities.drop lacks ALL")
	}
	if s, _ := eff("seccompProfile", "type").(string); s != "RuntimeDefault" {
		in.addf("security", "seccompProfile.type %q, want RuntimeDefault", s)
	}
	if _, ok := integer(pod, "fsGroup"); !ok {
		in.addf("security", "pod securityContext.fsGroup is not set: volumes would not be writable by uid %d", nonrootUID)
	}

	limitS := str(sidecar, "resources", "limits", "memory")
	if limit, err := parseQuantity(limitS); err != nil {
		in.addf("memory", "resources.limits.memory: %v", err)
	} else {
		if need := cfg.requiredMemory(); limit < need {
			in.addf("memory", "memory limit %s (%d MiB) < %d MiB needed for cache.max_memory %d MiB (README \"Memory\")",
				limitS, limit/mib, need/mib, cfg.MaxMemory/mib)
		}
		if req := str(sidecar, "resources", "requests", "memory"); req != limitS {
			in.addf("memory", "requests.memory %q != limits.memory %q: a cache wants guaranteed memory", req, limitS)
		}
		if want := wantGOMEMLIMIT(limit); gomemlimit != want {
			in.addf("memory", "GOMEMLIMIT %q, want %q (%d%% of the %s limit)", gomemlimit, want, gomemlimitPercent, limitS)
		}
	}

	wd := str(sidecar, "workingDir")
	if wd == "" {
		wd = workdir
	}
	for _, d := range []struct{ key, dir string }{
		{"backend.disk.dir", cfg.DiskDir}, {"write.journal_dir", cfg.JournalDir},
	} {
		dir := d.dir
		if !path.IsAbs(dir) {
			dir = path.Join(wd, dir)
		}
		m, v := mountFor(sidecar, podSpec, w, dir)
		if m == nil || v == nil {
			in.addf("volumes", "%s %s: not on a volume (the root filesystem is read-only)", d.key, dir)
			continue
		}
		if ro, _ := boolean(m, "readOnly"); ro {
			in.addf("volumes", "%s %s: its volume is mounted readOnly", d.key, dir)
		}
		if get(v, "configMap") != nil || get(v, "secret") != nil {
			in.addf("volumes", "%s %s: on a ConfigMap/Secret volume", d.key, dir)
		}
	}

	grace, ok := integer(podSpec, "terminationGracePeriodSeconds")
	if !ok {
		grace = defaultGraceSecs
	}
	// The preStop drain and then the SIGTERM drain may each take up to
	// shutdown_timeout, inside one grace period.
	if need := 2 * cfg.ShutdownTimeout; time.Duration(grace)*time.Second <= need {
		in.addf("shutdown", "terminationGracePeriodSeconds %d is not above 2 x shutdown_timeout (%v)", grace, need)
	}

	labels := get(w, "spec", "template", "metadata", "labels")
	ann := get(w, "spec", "template", "metadata", "annotations")
	if str(ann, "prometheus.io/scrape") == "true" {
		if p := str(ann, "prometheus.io/port"); p != strconv.Itoa(adminPort) {
			in.addf("metrics", "prometheus.io/port %q, want %d", p, adminPort)
		}
		if p := str(ann, "prometheus.io/path"); p != metricsPath {
			in.addf("metrics", "prometheus.io/path %q, want %s", p, metricsPath)
		}
	}
	found := false
	for _, o := range objs {
		if str(o, "kind") != "Service" || !selects(get(o, "spec", "selector"), labels) {
			continue
		}
		for _, p := range list(o, "spec", "ports") {
			if tp, ok := integer(p, "targetPort"); ok && tp == adminPort {
				found = true
			}
		}
	}
	if !found {
		in.addf("metrics", "no Service selects these pods with targetPort %d (a number: Services resolve named ports of sidecars only from Kubernetes 1.32)", adminPort)
	}
	if str(w, "kind") == "StatefulSet" {
		svc := str(w, "spec", "serviceName")
		if i := findObject(objs, "Service", svc); i < 0 || str(objs[i], "spec", "clusterIP") != "None" {
			in.addf("metrics", "StatefulSet serviceName %q is not a headless Service of this rendering", svc)
		}
	}
	return in
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// probePort resolves a probe's port, a number or the name of one of c's
// ports.
func probePort(h, c any) int {
	if n, ok := integer(h, "port"); ok {
		return n
	}
	name := str(h, "port")
	for _, p := range list(c, "ports") {
		if str(p, "name") == name {
			n, _ := integer(p, "containerPort")
			return n
		}
	}
	return 0
}

// mountFor finds the volume mount of container c that holds dir (the
// deepest mount at or above it) and the pod volume or StatefulSet volume
// claim template it mounts.
func mountFor(c, podSpec any, w object, dir string) (mount, volume any) {
	best := ""
	for _, m := range list(c, "volumeMounts") {
		mp := path.Clean(str(m, "mountPath"))
		if (dir == mp || strings.HasPrefix(dir, mp+"/") || mp == "/") && len(mp) > len(best) {
			best, mount = mp, m
		}
	}
	if mount == nil {
		return nil, nil
	}
	name := str(mount, "name")
	for _, v := range list(podSpec, "volumes") {
		if str(v, "name") == name {
			return mount, v
		}
	}
	for _, v := range list(w, "spec", "volumeClaimTemplates") {
		if str(v, "metadata", "name") == name {
			return mount, object{"name": name, "persistentVolumeClaim": object{"claimName": name}}
		}
	}
	return mount, nil
}

// selects reports whether a Service selector matches pod labels.
func selects(selector, labels any) bool {
	sel, _ := selector.(object)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if fmt.Sprint(get(labels, k)) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}
