//go:build !unix

package input

import "io"

// stoppableFile: elsewhere a pending read of a file cannot be ended.
func stoppableFile(io.Reader) (io.Reader, func(), bool) { return nil, nil, false }
