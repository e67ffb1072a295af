//go:build !unix

package holder

import (
	"io/fs"
	"os"
	"os/exec"
)

func fileOwner(fs.FileInfo) (int, bool)       { return 0, false }
func redirectStderr(*os.File)                 {}
func lockFile(string) (*os.File, bool, error) { return nil, false, ErrNotSupported }
func detach(*exec.Cmd)                        {}
func terminate(int) error                     { return ErrNotSupported }

const supported = false
