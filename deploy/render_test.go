package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// object is one Kubernetes object as decoded YAML: maps, lists and scalars.
type object = map[string]any

// kustomization is the subset of kustomize's Kustomization that the
// manifests under kubernetes/ use. It is decoded with KnownFields, so a
// kustomization.yaml that starts using another kustomize feature fails the
// tests with "field ... not found" until renderKustomization learns it: the
// checks never run on a rendering that silently differs from kustomize's.
type kustomization struct {
	APIVersion         string               `yaml:"apiVersion"`
	Kind               string               `yaml:"kind"`
	Resources          []string             `yaml:"resources"`
	ConfigMapGenerator []configMapGenerator `yaml:"configMapGenerator"`
	Patches            []kustomizePatch     `yaml:"patches"`
}

type configMapGenerator struct {
	Name     string   `yaml:"name"`
	Behavior string   `yaml:"behavior"` // "" (create) or replace
	Files    []string `yaml:"files"`
}

type kustomizePatch struct {
	Target struct {
		Kind string `yaml:"kind"`
		Name string `yaml:"name"`
	} `yaml:"target"`
	// Patch is an inline JSON 6902 patch written as YAML.
	Patch string `yaml:"patch"`
}

// jsonPatchOp is one RFC 6902 operation; add, replace and remove are
// supported.
type jsonPatchOp struct {
	Op    string `yaml:"op"`
	Path  string `yaml:"path"`
	Value any    `yaml:"value"`
}

// decodeStrict decodes one YAML document into v, refusing unknown fields,
// duplicate keys and trailing documents.
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("more than one YAML document (or: %v)", err)
	}
	return nil
}

// decodeDocuments decodes every document of a multi-document YAML stream,
// skipping empty ones. yaml.v3 refuses duplicate mapping keys, which is the
// strictness an untyped document can have.
func decodeDocuments(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var d any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// decodeObjects decodes a multi-document stream of Kubernetes objects.
func decodeObjects(data []byte) ([]object, error) {
	docs, err := decodeDocuments(data)
	if err != nil {
		return nil, err
	}
	objs := make([]object, 0, len(docs))
	for i, d := range docs {
		o, ok := d.(object)
		if !ok {
			return nil, fmt.Errorf("document %d is a %T, not a mapping", i, d)
		}
		if str(o, "kind") == "" || str(o, "apiVersion") == "" || str(o, "metadata", "name") == "" {
			return nil, fmt.Errorf("document %d lacks kind, apiVersion or metadata.name", i)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// renderKustomization builds dir the way `kustomize build` would, for the
// features kustomization declares, except that generated ConfigMaps keep
// their plain names (no content hash suffix). TestKustomizeMatchesKubectl
// compares the result with the real kustomize when one is installed.
func renderKustomization(dir string) ([]object, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomization
	if err := decodeStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w (the test's renderer supports resources, configMapGenerator and JSON 6902 patches only)", dir, err)
	}
	if k.Kind != "Kustomization" || k.APIVersion != "kustomize.config.k8s.io/v1beta1" {
		return nil, fmt.Errorf("%s/kustomization.yaml: kind %q apiVersion %q", dir, k.Kind, k.APIVersion)
	}
	var objs []object
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", dir, r, err)
		}
		var got []object
		if st.IsDir() {
			got, err = renderKustomization(p)
		} else {
			var b []byte
			if b, err = os.ReadFile(p); err == nil {
				got, err = decodeObjects(b)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		objs = append(objs, got...)
	}
	for _, g := range k.ConfigMapGenerator {
		cm := object{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata":   object{"name": g.Name},
			"data":       object{},
		}
		for _, f := range g.Files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, fmt.Errorf("%s: configMapGenerator %s: %w", dir, g.Name, err)
			}
			cm["data"].(object)[filepath.Base(f)] = string(b)
		}
		i := findObject(objs, "ConfigMap", g.Name)
		switch g.Behavior {
		case "", "create":
			if i >= 0 {
				return nil, fmt.Errorf("%s: configMapGenerator %s: already exists (use behavior: replace)", dir, g.Name)
			}
			objs = append(objs, cm)
		case "replace":
			if i < 0 {
				return nil, fmt.Errorf("%s: configMapGenerator %s: behavior replace, but no such ConfigMap below", dir, g.Name)
			}
			objs[i] = cm
		default:
			return nil, fmt.Errorf("%s: configMapGenerator %s: behavior %q is not supported by the test's renderer", dir, g.Name, g.Behavior)
		}
	}
	for _, p := range k.Patches {
		i := findObject(objs, p.Target.Kind, p.Target.Name)
		if i < 0 {
			return nil, fmt.Errorf("%s: patch target %s/%s not found", dir, p.Target.Kind, p.Target.Name)
		}
		var ops []jsonPatchOp
		if err := decodeStrict([]byte(p.Patch), &ops); err != nil {
			return nil, fmt.Errorf("%s: patch for %s/%s is not a JSON 6902 patch: %w", dir, p.Target.Kind, p.Target.Name, err)
		}
		for _, op := range ops {
			if err := applyJSONPatch(objs[i], op); err != nil {
				return nil, fmt.Errorf("%s: patch %s %s on %s/%s: %w", dir, op.Op, op.Path, p.Target.Kind, p.Target.Name, err)
			}
		}
	}
	return objs, nil
}

func findObject(objs []object, kind, name string) int {
	for i, o := range objs {
		if str(o, "kind") == kind && str(o, "metadata", "name") == name {
			return i
		}
	}
	return -1
}

// applyJSONPatch applies one RFC 6902 add, replace or remove to doc. As in
// the RFC, replace and remove need the target to exist; add appends to a
// list with "-" and inserts at an index.
func applyJSONPatch(doc object, op jsonPatchOp) error {
	if !strings.HasPrefix(op.Path, "/") {
		return fmt.Errorf("path must start with /")
	}
	tokens := strings.Split(op.Path[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	var parent any = doc
	for _, t := range tokens[:len(tokens)-1] {
		child, err := jsonChild(parent, t)
		if err != nil {
			return err
		}
		parent = child
	}
	last := tokens[len(tokens)-1]
	switch p := parent.(type) {
	case object:
		_, exists := p[last]
		switch op.Op {
		case "add":
			p[last] = op.Value
		case "replace":
			if !exists {
				return fmt.Errorf("replace: %q does not exist", last)
			}
			p[last] = op.Value
		case "remove":
			if !exists {
				return fmt.Errorf("remove: %q does not exist", last)
			}
			delete(p, last)
		default:
			return fmt.Errorf("op %q is not supported by the test's renderer", op.Op)
		}
		return nil
	case []any:
		// Lists are values, not references: rebuild and store through the
		// grandparent would need the path again, so only in-place changes
		// (replace) are supported on list items.
		idx, err := strconv.Atoi(last)
		if err != nil || idx < 0 || idx >= len(p) {
			return fmt.Errorf("index %q out of range (len %d)", last, len(p))
		}
		if op.Op != "replace" {
			return fmt.Errorf("op %q on a list item is not supported by the test's renderer", op.Op)
		}
		p[idx] = op.Value
		return nil
	default:
		return fmt.Errorf("parent of %q is a %T", last, parent)
	}
}

func jsonChild(v any, token string) (any, error) {
	switch p := v.(type) {
	case object:
		c, ok := p[token]
		if !ok {
			return nil, fmt.Errorf("%q does not exist", token)
		}
		return c, nil
	case []any:
		i, err := strconv.Atoi(token)
		if err != nil || i < 0 || i >= len(p) {
			return nil, fmt.Errorf("index %q out of range (len %d)", token, len(p))
		}
		return p[i], nil
	default:
		return nil, fmt.Errorf("cannot descend into %T at %q", v, token)
	}
}

// get walks maps by key and lists by decimal index; nil when absent.
func get(v any, path ...string) any {
	for _, k := range path {
		switch p := v.(type) {
		case object:
			v = p[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(p) {
				return nil
			}
			v = p[i]
		default:
			return nil
		}
	}
	return v
}

// str is get as a string; "" when absent or not a string.
func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

// list is get as a list.
func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// integer is get as an int; ok false when absent or not an integer.
func integer(v any, path ...string) (int, bool) {
	switch n := get(v, path...).(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	}
	return 0, false
}

// boolean is get as a bool; ok false when absent or not a bool.
func boolean(v any, path ...string) (bool, bool) {
	b, ok := get(v, path...).(bool)
	return b, ok
}
