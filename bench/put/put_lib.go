//go:build loomput

// Built with -tags loomput (bench/race.sh does, once Conn.Put exists): adds
// -mode put, the library's own Put (SFTP, written atomically).
package main

import "github.com/loomssh/loom"

func init() {
	putFunc = func(c *loom.Conn, src, dst string) error { return c.Put(src, dst).Err }
}
