// Package sshconfig reads OpenSSH client configuration files (ssh_config(5))
// and computes the effective settings for a destination, as `ssh -G` does.
//
// Loom has its own parser because the common Go one rejects "Match user"
// and multi-criteria Match lines, and matches "Match host" against the
// alias instead of the host name.
//
// Typical use:
//
//	cfg, err := sshconfig.Load(home, sshconfig.Files(home, flagF)...)
//	...
//	h, err := cfg.Resolve("deploy@web1:2222", sshconfig.Options{IdentityFiles: flagI})
//	conn, err := dial(ctx, h.Addr(), ...) // h.User, h.IdentityFiles, h.ProxyJump, ...
//
// # Semantics
//
// Values come, in order, from the target ("user@host:port"), the
// command-line Options (-l, -p, -i, then -o), the user's file and the
// system file; for each keyword the first value obtained wins, except
// IdentityFile and CertificateFile, which accumulate. Host lines match the
// alias as typed (case-sensitively); Match host matches the host name as
// known so far (after HostName), Match originalhost the alias, Match user
// the remote user as known so far. When a Match line uses "final", or
// CanonicalizeHostname is on, the files are read a second time once the
// host name is known, as ssh(1) does.
//
// Directives Loom does not implement never cause an error: they are
// listed in Host.Unsupported when they apply to the host (see
// UnsupportedDirectives), and a Match line with a criterion Loom does not
// evaluate (exec, tagged, ...) never matches. Unknown keywords are
// reported by Config.Warnings rather than rejected, so that a file written
// for a newer OpenSSH still loads. Invalid values of known keywords are
// errors naming file:line, even in blocks that match no host, as in ssh.
//
// The behaviour was checked against OpenSSH 9.2 (TestCompatSSHG compares
// with the installed `ssh -G`); docs/ssh_config.md lists the differences.
package sshconfig
