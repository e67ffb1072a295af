//go:build !unix

package remotefs

import "io/fs"

// localMode is the mode a local file or directory is put with (unless
// Mode is given). Windows files have ACLs, not Unix modes (Go reports
// 0666, or 0444 when read-only, and 0777 for a directory), so a file is
// put 0644 and a directory 0755, never writable by everyone; Mode (loom
// put --mode) sets another, an executable's 0755 say.
func localMode(m fs.FileMode) fs.FileMode {
	if m.IsDir() {
		return 0o755
	}
	return 0o644
}
