package holder

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// ServeArg is the hidden first argument that makes a loom program the
// holder: loom ServeArg DIR.
const ServeArg = "--loom-holder-serve"

// StartProcess starts exe (the running loom program) as the holder of
// dir, detached from the run: a session of its own, no terminal, its
// output in dir's log.
func StartProcess(exe string) func(dir string) error {
	return func(dir string) error {
		logf, err := openLog(dir)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd := exec.Command(exe, ServeArg, dir)
		cmd.Stdout, cmd.Stderr = logf.f, logf.f
		cmd.Dir = "/"
		detach(cmd)
		if err := cmd.Start(); err != nil {
			return err
		}
		return cmd.Process.Release()
	}
}

// Main is the holder process: it serves dir until it holds nothing (or
// is stopped), and returns its exit status. A second holder started at
// once finds the lock taken and leaves.
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: loom "+ServeArg+" DIR")
		return 2
	}
	dir := args[0]
	var out io.Writer = os.Stderr
	if lf, err := openLog(dir); err == nil {
		defer lf.Close()
		lf.stderr = true
		out = lf
	}
	logger := log.New(out, fmt.Sprintf("loom holder %d: ", os.Getpid()), log.LstdFlags)
	// A holder being replaced may still hold the lock for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, lock, ok, err := Listen(dir)
		if err != nil {
			logger.Print(err)
			return 1
		}
		if ok {
			defer lock.Close()
			s := &Server{Logf: logger.Printf}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			go func() { <-sigs; s.Stop() }()
			logger.Printf("serving %s", dir)
			err := s.Serve(ln)
			os.Remove(filepath.Join(dir, SocketName))
			logger.Print("exited")
			if err != nil {
				return 1
			}
			return 0
		}
		if time.Now().After(deadline) {
			logger.Print("another holder serves ", dir)
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}
