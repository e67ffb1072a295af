//go:build unix

package remotefs

import "io/fs"

// localMode is the mode a local file or directory is put with (unless
// Mode is given): its own.
func localMode(m fs.FileMode) fs.FileMode { return FileMode(m) }
