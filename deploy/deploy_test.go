package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestYAMLFilesParse decodes every YAML and JSON file under deploy/ (Helm
// templates excepted: they are Go templates until helm renders them, which
// TestHelmChart does).
func TestYAMLFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "templates" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			return nil
		}
		n++
		t.Run(p, func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if ext == ".json" {
				var v any
				dec := json.NewDecoder(bytes.NewReader(b))
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("invalid JSON: %v", err)
				}
				if dec.More() {
					t.Fatalf("trailing data after the JSON value")
				}
				return
			}
			docs, err := decodeDocuments(b)
			if err != nil {
				t.Fatalf("invalid YAML: %v", err)
			}
			if len(docs) == 0 {
				t.Fatalf("no YAML document")
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("found only %d YAML/JSON files under deploy/; is the test running in deploy/?", n)
	}
}

// TestSchemaKeysExist holds the test's copy of DESIGN.md's key list to the
// config package: every key must be a field of config.Config.
func TestSchemaKeysExist(t *testing.T) {
	for _, k := range schemaKeys {
		if _, ok := schemaField(k); !ok {
			t.Errorf("schema key %q is not a field of config.Config", k)
		}
	}
}

func TestUnknownConfigKeys(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"valid", "listen: 127.0.0.1:1\ncache:\n  max_memory: 1MiB\n  namespaces:\n    - prefix: a\n      ttl: 1s\n", nil},
		{"typo", "cache:\n  max_memmory: 1MiB\n", []string{"cache.max_memmory"}},
		{"unknown section", "admin:\n  listen: x\n", []string{"admin", "admin.listen"}},
		{"namespace item key", "cache:\n  namespaces:\n    - prefix: a\n      quota: 1MiB\n", []string{"cache.namespaces[].quota"}},
		{"leaf used as section", "listen:\n  host: x\n", []string{"listen.host"}},
		{"empty section", "tls: {}\nbackend:\n  redis:\n    tls: {}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unknownConfigKeys([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEffectiveConfig checks the test's own reading of a config against the
// config package on a config that uses no gated key.
func TestEffectiveConfig(t *testing.T) {
	data := []byte("listen: 127.0.0.1:7000\nshutdown_timeout: 20s\nbackend:\n  type: redis\n  redis:\n    addrs: [r:6379]\n")
	env := []string{"RESPCACHE_LISTEN=127.0.0.1:7001", "GOMEMLIMIT=1MiB"}
	e, err := effectiveConfig(data, env)
	if err != nil {
		t.Fatal(err)
	}
	r := loadConfig(t, data, env)
	if r.Config == nil {
		t.Fatalf("config package refuses the test config: %v %v", r.Errors, r.Gated)
	}
	if err := e.crossCheck(r.Config); err != nil {
		t.Error(err)
	}
	if e.Listen != "127.0.0.1:7001" {
		t.Errorf("environment did not override listen: %q", e.Listen)
	}
}

func TestQuantities(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"384Mi", 384 << 20, true}, {"1Gi", 1 << 30, true}, {"500M", 500e6, true},
		{"1048576", 1 << 20, true}, {"1.5Gi", 0, false}, {"Mi", 0, false}, {"-1Mi", 0, false},
	} {
		got, err := parseQuantity(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseQuantity(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"384m", 384 << 20, true}, {"1g", 1 << 30, true}, {"100", 100, true}, {"1.5g", 0, false},
	} {
		got, err := parseDockerBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDockerBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got := wantGOMEMLIMIT(384 << 20); got != "345MiB" {
		t.Errorf("GOMEMLIMIT for 384Mi = %s, want 345MiB", got)
	}
}

type kustomizeCase struct {
	dir           string
	workloads     int    // workloads carrying respcache
	backend, mode string // backend.type and write.mode of its respcache config
	memory        string // the respcache container's memory limit
}

// kustomizeDirs is every kustomization under kubernetes/, with what its
// rendering must hold. TestKubernetesManifests fails when a directory is
// missing here, so a new overlay cannot go unchecked.
var kustomizeDirs = []kustomizeCase{
	{"kubernetes/base", 1, "disk", "write-through", "512Mi"},
	{"kubernetes/overlays/upstream-redis", 1, "redis", "write-through", "384Mi"},
	{"kubernetes/overlays/write-back", 1, "redis", "write-back", "384Mi"},
	{"kubernetes/overlays/disk-statefulset", 1, "disk", "write-through", "512Mi"},
	{"kubernetes/demo-redis", 0, "", "", ""},
	{"kubernetes/monitoring", 0, "", "", ""},
}

func TestKubernetesManifests(t *testing.T) {
	var found []string
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			found = append(found, filepath.ToSlash(filepath.Dir(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range found {
		if !slices.ContainsFunc(kustomizeDirs, func(k kustomizeCase) bool { return k.dir == dir }) {
			t.Errorf("%s/kustomization.yaml is not in kustomizeDirs", dir)
		}
	}
	for _, k := range kustomizeDirs {
		t.Run(k.dir, func(t *testing.T) {
			objs, err := renderKustomization(k.dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := checkRendering(t, objs); n != k.workloads {
				t.Errorf("%d workloads with respcache, want %d", n, k.workloads)
			}
			if k.workloads == 0 {
				return
			}
			i := findObject(objs, "ConfigMap", "respcache-config")
			if i < 0 {
				t.Fatalf("no ConfigMap respcache-config")
			}
			cfg, err := effectiveConfig([]byte(str(objs[i], "data", "respcache.yaml")), nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.BackendType != k.backend || cfg.WriteMode != k.mode {
				t.Errorf("backend.type %q write.mode %q, want %q %q", cfg.BackendType, cfg.WriteMode, k.backend, k.mode)
			}
			for _, o := range objs {
				for _, c := range list(o, "spec", "template", "spec", "initContainers") {
					if isRespcacheImage(c) {
						if got := str(c, "resources", "limits", "memory"); got != k.memory {
							t.Errorf("memory limit %s, want %s", got, k.memory)
						}
					}
				}
			}
		})
	}
}

// TestKustomizeMatchesKubectl compares the test's renderer with the real
// kustomize (kubectl kustomize or kustomize build), when one is installed,
// so the structural checks are known to look at what a cluster would get.
func TestKustomizeMatchesKubectl(t *testing.T) {
	var build []string
	if p, err := exec.LookPath("kustomize"); err == nil {
		build = []string{p, "build"}
	} else if p, err := exec.LookPath("kubectl"); err == nil {
		build = []string{p, "kustomize"}
	} else {
		t.Skip("neither kustomize nor kubectl is installed; the renderer is not compared with kustomize")
	}
	hash := regexp.MustCompile(`-[a-z0-9]{10}$`)
	for _, k := range kustomizeDirs {
		t.Run(k.dir, func(t *testing.T) {
			ours, err := renderKustomization(k.dir)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(build[0], append(build[1:], k.dir)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
			}
			theirs, err := decodeObjects(out)
			if err != nil {
				t.Fatal(err)
			}
			generated := map[string]bool{}
			for _, o := range ours {
				if str(o, "kind") == "ConfigMap" {
					generated[str(o, "metadata", "name")] = true
				}
			}
			unhash := func(name string) string {
				if base := hash.ReplaceAllString(name, ""); generated[base] {
					return base
				}
				return name
			}
			for _, o := range theirs {
				if str(o, "kind") == "ConfigMap" {
					get(o, "metadata").(object)["name"] = unhash(str(o, "metadata", "name"))
				}
				for _, v := range list(o, "spec", "template", "spec", "volumes") {
					if cm, ok := get(v, "configMap").(object); ok {
						cm["name"] = unhash(str(cm, "name"))
					}
				}
			}
			if len(ours) != len(theirs) {
				t.Errorf("%d objects, kustomize renders %d", len(ours), len(theirs))
			}
			for _, o := range ours {
				kind, name := str(o, "kind"), str(o, "metadata", "name")
				i := findObject(theirs, kind, name)
				if i < 0 {
					t.Errorf("%s/%s: not in kustomize's output", kind, name)
					continue
				}
				if !reflect.DeepEqual(o, theirs[i]) {
					a, _ := json.MarshalIndent(o, "", " ")
					b, _ := json.MarshalIndent(theirs[i], "", " ")
					t.Errorf("%s/%s differs from kustomize's rendering:\nours:\n%s\nkustomize:\n%s", kind, name, a, b)
				}
			}
		})
	}
}

func TestJSONPatch(t *testing.T) {
	doc := func() object {
		return object{"spec": object{"list": []any{object{"a": 1}}, "m": object{"x": "y"}}}
	}
	tests := []struct {
		name    string
		op      jsonPatchOp
		want    any
		wantErr bool
	}{
		{"replace in list item", jsonPatchOp{"replace", "/spec/list/0/a", 2}, 2, false},
		{"replace map key", jsonPatchOp{"replace", "/spec/m/x", "z"}, "z", false},
		{"add map key", jsonPatchOp{"add", "/spec/m/n", "v"}, "v", false},
		{"replace missing", jsonPatchOp{"replace", "/spec/m/nope", 1}, nil, true},
		{"index out of range", jsonPatchOp{"replace", "/spec/list/3/a", 1}, nil, true},
		{"unsupported op", jsonPatchOp{"move", "/spec/m/x", nil}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doc()
			err := applyJSONPatch(d, tt.op)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				parts := strings.Split(tt.op.Path[1:], "/")
				if got := get(d, parts...); got != tt.want {
					t.Errorf("%s = %v, want %v", tt.op.Path, got, tt.want)
				}
			}
		})
	}
}

func TestRendererRefusesUnknownKustomizeFeatures(t *testing.T) {
	dir := t.TempDir()
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := renderKustomization(dir)
	if err == nil || !strings.Contains(err.Error(), "namePrefix") {
		t.Fatalf("renderKustomization accepted namePrefix (err %v)", err)
	}
	var te *os.PathError
	if errors.As(err, &te) {
		t.Fatalf("unexpected file error: %v", err)
	}
}

// TestWorkloadChecksCatchMistakes breaks the base rendering one way at a
// time and expects inspectWorkload to name the problem under the right
// check; the unbroken rendering must have none.
func TestWorkloadChecksCatchMistakes(t *testing.T) {
	const sc = "/spec/template/spec/initContainers/0"
	tests := []struct {
		name      string
		ops       []jsonPatchOp             // on the Deployment
		cfg       struct{ old, new string } // on respcache.yaml
		check     string
		wantInMsg string
	}{
		{name: "unbroken"},
		{name: "not a native sidecar", ops: []jsonPatchOp{{"remove", sc + "/restartPolicy", nil}}, check: "sidecar", wantInMsg: "restartPolicy"},
		{name: "readiness on healthz", ops: []jsonPatchOp{{"replace", sc + "/readinessProbe/httpGet/path", "/healthz"}}, check: "probes", wantInMsg: "readinessProbe: path"},
		{name: "startup on wrong port", ops: []jsonPatchOp{{"replace", sc + "/startupProbe/httpGet/port", 8080}}, check: "probes", wantInMsg: "startupProbe: port"},
		{name: "liveness missing", ops: []jsonPatchOp{{"remove", sc + "/livenessProbe", nil}}, check: "probes", wantInMsg: "livenessProbe: missing"},
		{name: "writable root", ops: []jsonPatchOp{{"replace", sc + "/securityContext/readOnlyRootFilesystem", false}}, check: "security", wantInMsg: "readOnlyRootFilesystem"},
		{name: "root", ops: []jsonPatchOp{{"replace", sc + "/securityContext/runAsNonRoot", false}}, check: "security", wantInMsg: "runAsNonRoot"},
		{name: "capabilities kept", ops: []jsonPatchOp{{"remove", sc + "/securityContext/capabilities", nil}}, check: "security", wantInMsg: "ALL"},
		{name: "limit below quota", ops: []jsonPatchOp{{"replace", sc + "/resources/limits/memory", "300Mi"}}, check: "memory", wantInMsg: "needed"},
		{name: "GOMEMLIMIT stale", ops: []jsonPatchOp{{"replace", sc + "/env/0/value", "1GiB"}}, check: "memory", wantInMsg: "GOMEMLIMIT"},
		{name: "no drain", ops: []jsonPatchOp{{"remove", sc + "/lifecycle", nil}}, check: "preStop-drain", wantInMsg: "preStop"},
		{name: "short grace", ops: []jsonPatchOp{{"replace", "/spec/template/spec/terminationGracePeriodSeconds", 15}}, check: "shutdown", wantInMsg: "terminationGracePeriodSeconds"},
		{name: "journal not mounted", ops: []jsonPatchOp{{"replace", sc + "/volumeMounts/2/mountPath", "/elsewhere"}}, check: "volumes", wantInMsg: "write.journal_dir"},
		{name: "config via subPath", ops: []jsonPatchOp{{"add", sc + "/volumeMounts/0/subPath", "respcache.yaml"}}, check: "config", wantInMsg: "subPath"},
		{name: "bigger quota", cfg: struct{ old, new string }{"max_memory: 256MiB", "max_memory: 1GiB"}, check: "memory", wantInMsg: "needed"},
		{name: "admin on loopback", cfg: struct{ old, new string }{"admin_listen: 0.0.0.0:9380", "admin_listen: 127.0.0.1:9380"}, check: "listeners", wantInMsg: "admin_listen"},
		{name: "RESP on the pod address", cfg: struct{ old, new string }{"listen: 127.0.0.1:6380", "listen: 0.0.0.0:6380"}, check: "listeners", wantInMsg: "loopback"},
		{name: "data off the volume", cfg: struct{ old, new string }{"dir: /var/lib/respcache/data", "dir: /tmp/data"}, check: "volumes", wantInMsg: "backend.disk.dir"},
		{name: "drain longer than grace", cfg: struct{ old, new string }{"shutdown_timeout: 10s", "shutdown_timeout: 20s"}, check: "shutdown", wantInMsg: "shutdown_timeout"},
	}
	workdir := imageWorkdir(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderKustomization("kubernetes/base")
			if err != nil {
				t.Fatal(err)
			}
			w := objs[findObject(objs, "Deployment", "respcache-example")]
			for _, op := range tt.ops {
				if err := applyJSONPatch(w, op); err != nil {
					t.Fatalf("%s %s: %v", op.Op, op.Path, err)
				}
			}
			if tt.cfg.old != "" {
				cm := objs[findObject(objs, "ConfigMap", "respcache-config")]["data"].(object)
				text := cm["respcache.yaml"].(string)
				if !strings.Contains(text, tt.cfg.old) {
					t.Fatalf("base respcache.yaml lacks %q", tt.cfg.old)
				}
				cm["respcache.yaml"] = strings.Replace(text, tt.cfg.old, tt.cfg.new, 1)
			}
			in := inspectWorkload(w, objs, workdir)
			if tt.check == "" {
				if len(in.problems) != 0 {
					t.Fatalf("problems in the unbroken base: %v", in.problems)
				}
				return
			}
			if !slices.ContainsFunc(in.problems[tt.check], func(p string) bool { return strings.Contains(p, tt.wantInMsg) }) {
				t.Errorf("check %q did not report %q; problems: %v", tt.check, tt.wantInMsg, in.problems)
			}
		})
	}
}

func TestIsRespcacheImage(t *testing.T) {
	for img, want := range map[string]bool{
		"ghcr.io/respcache/respcache:0.1.0":       true,
		"localhost:5000/respcache:dev":            true,
		"localhost:5000/respcache":                true,
		"respcache@sha256:0123":                   true,
		"registry.example.com:443/team/respcache": true,
		"redis:7.0.15-alpine":                     false,
		"respcache/other:1":                       false,
		"localhost:5000/other:respcache":          false,
	} {
		if got := isRespcacheImage(object{"image": img}); got != want {
			t.Errorf("isRespcacheImage(%q) = %v, want %v", img, got, want)
		}
	}
}
