//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package hostkey

import "os"

// lock does nothing on systems without flock: appends are then serialised
// within the process only.
func lock(*os.File) error { return nil }
