//go:build !unix

package holder

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
)

func fileOwner(fs.FileInfo) (int, bool)          { return 0, false }
func redirectStderr(*os.File)                    {}
func lockFile(string) (*os.File, bool, error)    { return nil, false, ErrNotSupported }
func detach(*exec.Cmd)                           {}
func peerUID(net.Conn) (uid, pid int, err error) { return -1, 0, ErrNotSupported }
func terminate(int) error                        { return ErrNotSupported }

const supported = false
