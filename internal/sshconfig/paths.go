package sshconfig

import "path/filepath"

// SystemConfigFile is the system-wide configuration file ssh(1) reads:
// /etc/ssh/ssh_config; on Windows %ProgramData%\ssh\ssh_config, as
// OpenSSH for Windows reads it.
var SystemConfigFile = filepath.Join(systemDir, "ssh_config")

// globalKnownHostsFiles are GlobalKnownHostsFile's default, in systemDir.
func globalKnownHostsFiles() []string {
	return []string{filepath.Join(systemDir, "ssh_known_hosts"), filepath.Join(systemDir, "ssh_known_hosts2")}
}
