package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireHelmEnv makes a missing helm binary fail TestHelmChart instead of
// skipping it; CI sets it after installing helm.
const requireHelmEnv = "DEPLOYTEST_REQUIRE_HELM"

// helmKubeVersion is passed to helm template: the chart needs native
// sidecars (kubeVersion >= 1.29), and a helm built without its release
// ldflags (go install) assumes Kubernetes 1.20.
const helmKubeVersion = "1.31.0"

// helmBinary finds helm: $HELM, then PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	if os.Getenv(requireHelmEnv) != "" {
		t.Fatalf("helm is not installed ($HELM unset, not on PATH) and %s is set", requireHelmEnv)
	}
	t.Skipf("helm is not installed ($HELM unset, not on PATH); the chart is not linted or rendered (set %s=1 to fail instead)", requireHelmEnv)
	return ""
}

func runHelm(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm, args...)
	// Keep helm away from the user's repositories, cache and plugins.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

func TestHelmChart(t *testing.T) {
	helm := helmBinary(t)
	const chart = "helm/respcache"

	t.Run("lint", func(t *testing.T) {
		for _, args := range [][]string{
			{"lint", "--strict", chart},
			{"lint", "--strict", chart, "-f", "testdata/helm/upstream.yaml"},
			{"lint", "--strict", chart, "-f", "testdata/helm/write-back.yaml"},
		} {
			if out, err := runHelm(t, helm, args...); err != nil {
				t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	// A parent chart that injects the sidecar into its own Deployment, with
	// this chart as its dependency.
	parent := filepath.Join(t.TempDir(), "myapp")
	if err := os.CopyFS(parent, os.DirFS("testdata/helm/parent")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(parent, "charts", "respcache"), os.DirFS(chart)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		chart     string
		args      []string
		workloads int    // workloads carrying respcache
		memory    string // their respcache memory limit
		wantErr   string // helm template must fail with this
		// wantProblem is a check of inspectWorkload that must report a
		// problem: the chart allows it, the deploy/ contract does not.
		wantProblem string
	}{
		{name: "defaults (disk store)", chart: chart, workloads: 1, memory: "512Mi"},
		{name: "upstream", chart: chart, args: []string{"-f", "testdata/helm/upstream.yaml"}, workloads: 1, memory: "384Mi"},
		{name: "write-back on a PVC", chart: chart, args: []string{"-f", "testdata/helm/write-back.yaml"}, workloads: 1, memory: "1280Mi"},
		{name: "explicit limit", chart: chart, args: []string{"--set", "resources.limits.memory=1Gi"}, workloads: 1, memory: "1Gi"},
		{name: "no drain", chart: chart, args: []string{"--set", "drain.enabled=false"}, wantProblem: "preStop-drain"},
		{name: "injected into a parent chart", chart: parent, workloads: 1, memory: "384Mi"},
		{name: "example disabled", chart: chart, args: []string{"--set", "example.enabled=false"}, workloads: 0},
		{name: "admin on loopback", chart: chart, args: []string{"--set", "config.admin_listen=127.0.0.1:9380"}, wantErr: "loopback-only"},
		{name: "admin port mismatch", chart: chart, args: []string{"--set", "config.admin_listen=0.0.0.0:9999"}, wantErr: "must use adminPort"},
		{name: "limit below 1.25 x quota", chart: chart, args: []string{"--set", "resources.limits.memory=300Mi"}, wantErr: "below 1.25 x cache.max_memory"},
		{name: "size as a float", chart: chart, args: []string{"-f", writeTemp(t, "config:\n  cache:\n    max_memory: 268435456\n")}, wantErr: "write sizes with a unit"},
		{name: "journal off the volume", chart: chart, args: []string{"--set", "config.write.journal_dir=/journal"}, wantErr: "journal volume's mount path"},
		{name: "old Kubernetes", chart: chart, args: []string{"--kube-version", "1.28.0"}, wantErr: "kubeVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"template", "demo", tt.chart, "--namespace", "demo", "--kube-version", helmKubeVersion}, tt.args...)
			out, err := runHelm(t, helm, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(out, tt.wantErr) {
					t.Fatalf("helm template succeeded or failed otherwise (err %v), want an error containing %q:\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			objs, err := decodeObjects([]byte(out))
			if err != nil {
				t.Fatalf("helm output: %v\n%s", err, out)
			}
			if tt.wantProblem != "" {
				w := objs[findObject(objs, "Deployment", "demo-respcache-example")]
				if in := inspectWorkload(w, objs, imageWorkdir(t)); len(in.problems[tt.wantProblem]) == 0 {
					t.Errorf("check %s found no problem", tt.wantProblem)
				}
				return
			}
			if n := checkRendering(t, objs); n != tt.workloads {
				t.Errorf("%d workloads with respcache, want %d", n, tt.workloads)
			}
			for _, o := range objs {
				for _, c := range list(o, "spec", "template", "spec", "initContainers") {
					if isRespcacheImage(c) {
						if got := str(c, "resources", "limits", "memory"); got != tt.memory {
							t.Errorf("memory limit %s, want %s", got, tt.memory)
						}
					}
				}
			}
			if tt.workloads == 0 && findObject(objs, "ConfigMap", "demo-respcache-config") < 0 {
				t.Errorf("no ConfigMap demo-respcache-config: injected sidecars mount it")
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
