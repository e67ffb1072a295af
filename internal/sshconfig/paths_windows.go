//go:build windows

package sshconfig

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// systemDir holds the system-wide files of OpenSSH for Windows
// (%ProgramData%\ssh); relative Includes of system files are looked up
// there.
var systemDir = filepath.Join(programData(), "ssh")

func programData() string {
	if p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0); err == nil && p != "" {
		return p
	}
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
