// Package loomtest runs a real SSH server inside the current process, for
// tests and demos.
//
// The server speaks the SSH protocol through golang.org/x/crypto/ssh, so any
// SSH client can use it: Loom itself, a bare x/crypto/ssh client, or a stock
// OpenSSH ssh(1). It accepts public-key, password and keyboard-interactive
// authentication as configured in [Options], and runs each command as
// "Shell -c COMMAND" in [Options.Dir], as the operating-system user that runs
// the test, with the current process's environment.
//
// Beyond behaving like sshd, a server can misbehave on demand (see [Fault]):
// hang before the version banner, hang in key exchange, drop the TCP
// connection in the middle of a command, omit the exit status, never finish a
// command, reject every login, or stop answering keepalives. It can also be
// hostile: trickle output a byte a second, report a malformed or impossible
// exit status, send a megabyte of text before its version line, understate
// the sizes of the files it serves over SFTP, or break
// the protocol outright (a window adjustment past 2^32-1, a 1 MiB banner) —
// the last two through a minimal SSH server of the package's own, since
// x/crypto's server refuses to misbehave that way. These are the situations
// a real sshd cannot easily be made to produce in a test.
//
// # What the server supports
//
// Session channels, and direct-tcpip channels when
// Options.AllowTCPForwarding is set (so a server can be a jump host); other
// channel types are rejected. On a session channel:
//
//   - exec runs Shell -c COMMAND; shell runs Shell reading commands from
//     stdin. One program per session, as with sshd.
//   - env is accepted for every variable (unlike sshd's AcceptEnv).
//   - pty-req is accepted, but no pseudo-terminal is allocated: the command
//     runs with pipes. TERM is set from the request, and stderr is merged
//     into stdout, as it would be on a terminal. Programs that need a real
//     terminal (sudo asking for a password, for example) do not work.
//   - window-change is accepted and ignored.
//   - signal is delivered to the command's whole process group; the
//     RFC 4254 names ABRT, ALRM, FPE, HUP, ILL, INT, KILL, PIPE, QUIT, SEGV,
//     TERM, USR1 and USR2 are understood.
//   - auth-agent-req@openssh.com is counted (see
//     [Server.AgentForwardRequests]). As with OpenSSH, the first request on
//     a connection is granted and later ones on the same connection are
//     refused. Once granted, commands on that connection see SSH_AUTH_SOCK
//     pointing at a Unix socket whose connections are forwarded to the
//     client's agent over auth-agent@openssh.com channels.
//   - subsystem sftp is served (github.com/pkg/sftp) in the server's Dir, as
//     the test process's user, so file operations (Put, Get, Sync…) work
//     (unless Options.NoSFTP); symbolic link targets are kept as given,
//     as OpenSSH's sftp-server keeps them;
//     other subsystems and x11-req are refused.
//
// A command's stdout and stderr are forwarded on the channel's data and
// extended-data streams, client data is written to its stdin, and client EOF
// closes its stdin. When the command has exited and its output has been
// drained, the server sends EOF, then exit-status (or exit-signal, with the
// signal name without "SIG", when a signal killed it), then closes the
// channel. Like sshd, it waits for every process holding the command's output
// open (a backgrounded "sleep 30 &", for example) before closing.
//
// Global requests: keepalive@openssh.com is answered with success; other
// global requests are answered with failure.
//
// # Differences from sshd worth knowing
//
// When the client closes the channel or the connection goes away while the
// command is still running, the server kills the command's process group
// with SIGKILL, so that tests leak no processes. sshd, without a pty, would
// leave the command running. [Server.Close] does the same for every running
// command.
//
// SSH_AUTH_SOCK, SSH_CONNECTION, SSH_CLIENT and SSH_TTY are removed from the
// inherited environment, so a test's own agent never leaks into "remote"
// commands; SSH_CONNECTION and SSH_CLIENT are then set as sshd would set them.
//
// The server identifies itself as "SSH-2.0-loomtest", so a client that
// enables features by parsing an OpenSSH version string sees an unknown
// server.
//
// Without any [Options.AuthorizedKeys] or [Options.Password], nobody can log
// in: a server that runs commands as the current user never accepts
// anonymous logins.
//
// Process groups and signals need a Unix system; elsewhere commands run
// without a process group and only KILL can be delivered.
package loomtest
