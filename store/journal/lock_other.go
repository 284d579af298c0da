//go:build !unix

package journal

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only opens dir/LOCK: without flock, keeping two journals off one
// directory is left to the deployment.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	return f, nil
}
