//go:build !windows

package sshconfig

// systemDir holds ssh(1)'s system-wide files; relative Includes of system
// files are looked up there.
const systemDir = "/etc/ssh"
