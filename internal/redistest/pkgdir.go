package redistest

import (
	"path/filepath"
	"runtime"
)

// packageDir returns this package's source directory, so that the corpus is
// found when RunDiffCorpus is called from another package's tests (whose
// working directory is that package's).
func packageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("redistest: cannot locate package source")
	}
	return filepath.Dir(file)
}
