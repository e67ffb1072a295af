//go:build !unix

package sshmux

// Supported reports whether this system has the client: not on Windows.
const Supported = false
