//go:build !linux

package cli

import "os"

// pipeBuffered cannot tell here: more input is then noticed when it comes
// (watchLeft).
func pipeBuffered(*os.File) (int, bool) { return 0, false }
