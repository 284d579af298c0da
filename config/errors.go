package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem with the configuration.
//
// File and Line locate the value when it came from the config file (Line is
// 1-based; 0 when unknown). Source names the origin when it did not: "env
// RESPCACHE_LOG_LEVEL" or "flag --listen". Path is the dotted key path
// ("cache.namespaces[1].prefix"); it is empty for problems that concern no
// single key (an unreadable file, an unknown environment variable).
type FieldError struct {
	File   string
	Line   int
	Source string
	Path   string
	Msg    string
}

// Error formats e as "file:line: path: msg", "env RESPCACHE_X: path: msg" or
// "path: msg", leaving out the parts that are empty.
func (e FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Source != "":
		b.WriteString(e.Source + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Error is every problem found while loading a configuration. Load and
// Validate return a *Error whose Errors are sorted by line, then path, and
// never empty.
type Error struct {
	Errors []FieldError
}

// Error joins the errors one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// errList collects FieldErrors during a load.
type errList []FieldError

func (l *errList) add(fe FieldError) { *l = append(*l, fe) }

// err sorts (line, then path, then the rest so the order is total), drops
// exact duplicates and returns nil when there is nothing to report.
func (l errList) err() error {
	if len(l) == 0 {
		return nil
	}
	s := append([]FieldError(nil), l...)
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Msg < b.Msg
	})
	out := s[:1]
	for _, fe := range s[1:] {
		if fe != out[len(out)-1] {
			out = append(out, fe)
		}
	}
	return &Error{Errors: out}
}
