//go:build windows

package proctree

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// statusControlCExit is the exit code of a process ended by a console
// Ctrl-C or Ctrl-Break (STATUS_CONTROL_C_EXIT); Kill ends the tree with it
// too.
const statusControlCExit = 0xC000013A

// treeSys is the tree's job object, and the signal sent to it.
type treeSys struct {
	mu   sync.Mutex
	job  windows.Handle // 0 once released
	sent string
}

// Shell returns a command that runs script with a POSIX shell: sh from
// PATH, else the one Git for Windows installs. Loom composes its commands
// (Cd, Env, Sudo) in POSIX shell syntax, so cmd.exe cannot stand in.
func Shell(script string) (*exec.Cmd, error) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		sh = ""
		for _, env := range []string{"ProgramFiles", "ProgramW6432", "LocalAppData"} {
			dir := os.Getenv(env)
			if dir == "" {
				continue
			}
			if env == "LocalAppData" {
				dir = filepath.Join(dir, "Programs")
			}
			p := filepath.Join(dir, "Git", "bin", "sh.exe")
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				sh = p
				break
			}
		}
	}
	if sh == "" {
		return nil, errors.New("local commands need a POSIX shell, and there is no sh.exe in PATH (Git for Windows has one: put its bin directory in PATH)")
	}
	return exec.Command(sh, "-c", script), nil
}

// start starts the command suspended, puts it in a new job object (which
// its children then join as they start) and only then lets it run, so that
// nothing it starts can escape the job. Its own console process group lets
// Signal send it a Ctrl-Break without reaching Loom.
func (t *Tree) start() error {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return fmt.Errorf("proctree: creating a job object: %w", err)
	}
	t.cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP,
	}
	if err := t.cmd.Start(); err != nil {
		windows.CloseHandle(job)
		return err
	}
	pid := uint32(t.cmd.Process.Pid)
	if err := assign(job, pid); err != nil {
		t.cmd.Process.Kill()
		t.cmd.Wait()
		windows.CloseHandle(job)
		return fmt.Errorf("proctree: putting the command in a job object: %w", err)
	}
	t.sys.job = job
	if err := resume(pid); err != nil {
		windows.TerminateJobObject(job, statusControlCExit)
		t.cmd.Wait()
		t.release()
		return fmt.Errorf("proctree: starting the command: %w", err)
	}
	return nil
}

func assign(job windows.Handle, pid uint32) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return windows.AssignProcessToJobObject(job, h)
}

// resume resumes the threads of the suspended process pid (it has one, its
// main thread).
func resume(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return err
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return err
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("no thread found to resume")
	}
	return nil
}

func (t *Tree) signal(sig string) error {
	switch sig {
	case "KILL", "INT", "TERM", "HUP", "QUIT":
	default:
		return ErrUnknownSignal
	}
	t.sys.mu.Lock()
	defer t.sys.mu.Unlock()
	if t.sys.job == 0 {
		return os.ErrProcessDone
	}
	t.sys.sent = sig
	if sig != "KILL" && windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(t.cmd.Process.Pid)) == nil {
		return nil
	}
	return windows.TerminateJobObject(t.sys.job, statusControlCExit)
}

// exit reports a command ended by a signal Signal sent (it then exits with
// STATUS_CONTROL_C_EXIT) as ended by that signal.
func (t *Tree) exit() (int, string) {
	code := t.cmd.ProcessState.ExitCode()
	t.sys.mu.Lock()
	sent := t.sys.sent
	t.sys.mu.Unlock()
	if sent != "" && uint32(code) == statusControlCExit {
		return -1, sent
	}
	return code, ""
}

// release closes the job object; processes the command left running in it
// go on, as a Unix process group's would.
func (t *Tree) release() {
	t.sys.mu.Lock()
	defer t.sys.mu.Unlock()
	if t.sys.job != 0 {
		windows.CloseHandle(t.sys.job)
		t.sys.job = 0
	}
}
