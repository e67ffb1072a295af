package proctree

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary plays the command: PROCTREE_ROLE=parent starts itself
// again as a child, prints the child's pid and waits; a child waits.
func TestMain(m *testing.M) {
	switch os.Getenv("PROCTREE_ROLE") {
	case "parent":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "PROCTREE_ROLE=child")
		if err := c.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println(c.Process.Pid)
		c.Wait()
		os.Exit(0)
	case "child":
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	case "exit":
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func self(role string) *exec.Cmd {
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "PROCTREE_ROLE="+role)
	return c
}

// TestKillTree: Kill ends the command and what it started, and Wait says
// KILL.
func TestKillTree(t *testing.T) {
	c := self("parent")
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tr.Kill()
		t.Fatalf("reading the child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		tr.Kill()
		t.Fatalf("child: %q", line)
	}
	if err := tr.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	code, sig, err := tr.Wait()
	if err != nil || code != -1 || sig != "KILL" {
		t.Errorf("wait: code %d, signal %q, %v; want -1 KILL", code, sig, err)
	}
	if !gone(t, pid, 30*time.Second) {
		t.Errorf("the command's child %d is still running after Kill", pid)
	}
}

// TestExitCode: a command's own exit code is reported, and no signal.
func TestExitCode(t *testing.T) {
	tr, err := Start(self("exit"))
	if err != nil {
		t.Fatal(err)
	}
	code, sig, err := tr.Wait()
	if err != nil || code != 7 || sig != "" {
		t.Errorf("wait: code %d, signal %q, %v; want 7", code, sig, err)
	}
	if err := tr.Kill(); err == nil {
		t.Errorf("kill after wait: no error")
	}
}

// TestUnknownSignal: a signal that cannot be sent is an error, not a kill.
func TestUnknownSignal(t *testing.T) {
	tr, err := Start(self("child"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Wait()
	defer tr.Kill()
	if err := tr.Signal("NOSUCH"); err != ErrUnknownSignal {
		t.Errorf("signal NOSUCH: %v", err)
	}
}
