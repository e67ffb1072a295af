// Package sshmux is a client for OpenSSH's connection multiplexing
// protocol (PROTOCOL.mux in the OpenSSH sources, version 4): what ssh(1)
// speaks to a ControlMaster over its ControlPath socket. It opens
// passenger sessions on a running master: the hello exchange, an alive
// check (the master's pid), and MUX_C_NEW_SESSION with the session's
// stdin, stdout and stderr passed to the master as file descriptors
// (SCM_RIGHTS). The master then does all the SSH work; the client waits
// for the exit message (MUX_S_EXIT_MESSAGE) and for the master to close
// the control connection.
//
// The protocol has no message for signals: a session is ended by closing
// its control connection (Session.Close). It also reports only exit
// codes: a command killed by a signal ends without an exit message.
//
// Passing descriptors needs Unix domain sockets with SCM_RIGHTS: the
// client is built on Unix systems only. On Windows the package has the
// message encoding and no client (Supported is false), and Loom never
// tries to use an OpenSSH master there.
package sshmux
