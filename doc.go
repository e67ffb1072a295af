// Package loom runs commands, scripts and deployments over SSH, on one host
// or ten thousand: Fabric's idea — deployment scripts in your own language —
// in Go, with concurrency and agent forwarding done right.
//
// A Dialer holds what one run shares (ssh_config, known_hosts, asked-once
// secrets, jump connections); Dial gives a Conn, one host over one SSH
// connection; a Conn runs commands:
//
//	d := &loom.Dialer{Prompt: loom.Terminal()}
//	defer d.Close()
//	c, err := d.Dial(ctx, "deploy@web1.example.com")
//	if err != nil {
//		return err // a *ConnectError: unreachable, timeout, authentication, host key
//	}
//	defer c.Close()
//	app := c.Cd("/srv/app")
//	app.Run("git", "fetch", "--tags")
//	app.Run("git", "checkout", version)
//	app.Sudo("systemctl", "restart", "app")
//	return c.Err() // the first failure, if any; later commands did not run
//
// Run quotes each argument for the remote shell; Shell takes shell text.
// Scope methods (Cd, Env, Prefix, As, Timeout, Warn, OkExit, Pty, Stdin,
// Stream, Quiet, Respond) return a derived Conn and apply to Run, Shell, Sudo and
// SudoShell alike.
//
// Host keys are checked against known_hosts by default; see HostKeyCheck.
// Passwords and passphrases are asked once per run through a Prompter, sent
// on stdin, and never shown.
//
// # Tasks
//
// A loomfile (loomfile.go, build tag loom) holds tasks: exported functions
// taking a *Conn (run on every selected host) or a context.Context (run
// once, here). The loom command lists, builds and runs them. In a loomfile,
// Task gives a task its default hosts and limits; Deps runs a dependency
// once per invocation; Execute runs a host task on its hosts; NewGroup and
// Map run a function on a group and collect typed results. See
// docs/loomfiles.md.
package loom
