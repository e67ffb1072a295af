//go:build unix

package main

import (
	"log"
	"syscall"
)

// raiseFileLimit raises RLIMIT_NOFILE to its hard limit and stops when that
// is still below need (one descriptor per listener, and some).
func raiseFileLimit(need int) {
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if int(rl.Cur) < need {
		log.Fatalf("RLIMIT_NOFILE is %d: too low for %d listeners", rl.Cur, need-1000)
	}
}
