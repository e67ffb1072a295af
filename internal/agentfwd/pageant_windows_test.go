//go:build windows

package agentfwd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/davidmz/go-pageant"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/windows"
)

// The user32 and kernel32 calls a window of our own needs, which
// x/sys/windows does not have.
var (
	user32               = windows.NewLazySystemDLL("user32.dll")
	procRegisterClassExW = user32.NewProc("RegisterClassExW")
	procCreateWindowExW  = user32.NewProc("CreateWindowExW")
	procDefWindowProcW   = user32.NewProc("DefWindowProcW")
	procGetMessageW      = user32.NewProc("GetMessageW")
	procDispatchMessageW = user32.NewProc("DispatchMessageW")
	procPostMessageW     = user32.NewProc("PostMessageW")
	procPostQuitMessage  = user32.NewProc("PostQuitMessage")
	procOpenFileMappingW = windows.NewLazySystemDLL("kernel32.dll").NewProc("OpenFileMappingW")
)

const (
	wmDestroy           = 0x0002
	wmClose             = 0x0010
	wmCopyData          = 0x004a
	wsOverlappedWindow  = 0x00cf0000
	cwUseDefault        = 0x80000000
	fileMapAllAccess    = 0x000f001f
	pageantCopyDataID   = 0x804e50ba // AGENT_COPYDATA_ID of PuTTY's winpgntc.c
	pageantClassAndName = "Pageant"
)

// wndClassEx is WNDCLASSEXW.
type wndClassEx struct {
	size       uint32
	style      uint32
	wndProc    uintptr
	clsExtra   int32
	wndExtra   int32
	instance   windows.Handle
	icon       windows.Handle
	cursor     windows.Handle
	background windows.Handle
	menuName   *uint16
	className  *uint16
	iconSm     windows.Handle
}

// winMsg is MSG.
type winMsg struct {
	hwnd     uintptr
	message  uint32
	wParam   uintptr
	lParam   uintptr
	time     uint32
	pt       struct{ x, y int32 }
	lPrivate uint32
}

// copyDataStruct is COPYDATASTRUCT.
type copyDataStruct struct {
	dwData uintptr
	cbData uint32
	lpData uintptr
}

// fakePageant is a window of class and title "Pageant" that answers
// WM_COPYDATA as Pageant does: the request names a file mapping its
// client made and owns, holding an agent message (a 4-byte big-endian
// length and the message); the reply goes into the same mapping and the
// message returns nonzero.
type fakePageant struct {
	ag       agent.Agent
	hwnd     uintptr
	done     chan struct{}
	requests atomic.Int32

	mu   sync.Mutex
	errs []error // what a request did wrong, reported when it stops
}

// activePageant is the fake the window procedure serves: one window at a
// time, as FindWindow finds one.
var activePageant atomic.Pointer[fakePageant]

// pageantWndProc is the window procedure of every fake Pageant window,
// made once: a process has a bounded number of Go callbacks.
var pageantWndProc = windows.NewCallback(func(hwnd, msg, wParam, lParam uintptr) uintptr {
	switch msg {
	case wmCopyData:
		if p := activePageant.Load(); p != nil && p.hwnd == hwnd {
			return p.copyData(lParam)
		}
		return 0
	case wmDestroy:
		procPostQuitMessage.Call(0)
		return 0
	}
	r, _, _ := procDefWindowProcW.Call(hwnd, msg, wParam, lParam)
	return r
})

// registerPageantClass registers the window class "Pageant" for every
// fake Pageant of the process (a class is the process's, not a thread's)
// and returns the module it is registered for.
var registerPageantClass = sync.OnceValues(func() (windows.Handle, error) {
	var instance windows.Handle
	if err := windows.GetModuleHandleEx(0, nil, &instance); err != nil {
		return 0, fmt.Errorf("GetModuleHandleEx: %w", err)
	}
	name, _ := windows.UTF16PtrFromString(pageantClassAndName)
	wc := wndClassEx{wndProc: pageantWndProc, instance: instance, className: name}
	wc.size = uint32(unsafe.Sizeof(wc))
	if atom, _, err := procRegisterClassExW.Call(uintptr(unsafe.Pointer(&wc))); atom == 0 {
		return 0, fmt.Errorf("RegisterClassEx: %w", err)
	}
	return instance, nil
})

// startPageant runs a fake Pageant serving ag until the test ends. Its
// window and message loop live on an OS thread of their own, locked, as
// a window belongs to the thread that made it.
func startPageant(t *testing.T, ag agent.Agent) *fakePageant {
	t.Helper()
	if pageant.Available() {
		t.Skip("a Pageant window already exists on this desktop")
	}
	p := &fakePageant{ag: ag, done: make(chan struct{})}
	ready := make(chan error, 1)
	go p.run(ready)
	if err := <-ready; err != nil {
		t.Fatalf("fake Pageant: %v", err)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *fakePageant) run(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(p.done)

	instance, err := registerPageantClass()
	if err != nil {
		ready <- err
		return
	}
	name, _ := windows.UTF16PtrFromString(pageantClassAndName)
	// Set before the window exists, so that no request finds it unserved.
	activePageant.Store(p)
	defer activePageant.Store(nil)
	// Pageant's window: hidden, top-level (FindWindow finds no
	// message-only window), of class and title "Pageant".
	hwnd, _, err := procCreateWindowExW.Call(0,
		uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(name)), wsOverlappedWindow,
		cwUseDefault, cwUseDefault, 100, 100, 0, 0, uintptr(instance), 0)
	if hwnd == 0 {
		if errors.Is(err, windows.ERROR_SUCCESS) {
			// What Wine answers with no display driver.
			err = errors.New("no window and no error (under Wine: no display; .ci/platforms sets HKCU\\Software\\Wine\\Drivers Graphics=null)")
		}
		ready <- fmt.Errorf("CreateWindowEx: %w", err)
		return
	}
	p.hwnd = hwnd
	ready <- nil

	var m winMsg
	for {
		r, _, err := procGetMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
		switch int32(r) {
		case 0: // WM_QUIT
			return
		case -1:
			p.fail(fmt.Errorf("GetMessage: %w", err))
			return
		}
		procDispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
	}
}

// stop closes the window (which destroys it and ends the message loop),
// waits for its thread to be done, and reports what requests did wrong.
func (p *fakePageant) stop(t *testing.T) {
	t.Helper()
	if ok, _, err := procPostMessageW.Call(p.hwnd, wmClose, 0, 0); ok == 0 {
		t.Errorf("fake Pageant: PostMessage(WM_CLOSE): %v", err)
		return
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Error("fake Pageant: the window did not close in a minute")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.errs {
		t.Errorf("fake Pageant: %v", err)
	}
}

func (p *fakePageant) fail(err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

// copyData serves one WM_COPYDATA, as Pageant's WndProc does: nonzero
// once the reply is in the mapping, 0 when the request is refused.
func (p *fakePageant) copyData(lParam uintptr) uintptr {
	p.requests.Add(1)
	// lParam points at the sender's COPYDATASTRUCT, outside the Go heap
	// as far as this side knows; converted through a pointer to keep go
	// vet's unsafeptr check quiet, as go-pageant does.
	cds := *(**copyDataStruct)(unsafe.Pointer(&lParam))
	if cds.dwData != pageantCopyDataID {
		p.fail(fmt.Errorf("dwData %#x, want %#x", cds.dwData, pageantCopyDataID))
		return 0
	}
	// The mapping's name, NUL-terminated within cbData.
	nameZ := unsafe.Slice(*(**byte)(unsafe.Pointer(&cds.lpData)), cds.cbData)
	end := bytes.IndexByte(nameZ, 0)
	if end < 0 {
		p.fail(fmt.Errorf("mapping name %q is not NUL-terminated", nameZ))
		return 0
	}
	if err := p.serveMapping(string(nameZ[:end])); err != nil {
		p.fail(err)
		return 0
	}
	return 1
}

func (p *fakePageant) serveMapping(name string) error {
	wname, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return err
	}
	h, _, err := procOpenFileMappingW.Call(fileMapAllAccess, 0, uintptr(unsafe.Pointer(wname)))
	if h == 0 {
		return fmt.Errorf("OpenFileMapping %s: %w", name, err)
	}
	defer windows.CloseHandle(windows.Handle(h))

	// Pageant serves only a mapping its own user owns.
	if err := checkOwner(windows.Handle(h)); err != nil {
		return fmt.Errorf("mapping %s: %w", name, err)
	}

	view, err := windows.MapViewOfFile(windows.Handle(h), windows.FILE_MAP_WRITE, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("MapViewOfFile %s: %w", name, err)
	}
	defer windows.UnmapViewOfFile(view)
	var mbi windows.MemoryBasicInformation
	if err := windows.VirtualQuery(view, &mbi, unsafe.Sizeof(mbi)); err != nil {
		return fmt.Errorf("VirtualQuery %s: %w", name, err)
	}
	mem := unsafe.Slice(*(**byte)(unsafe.Pointer(&view)), mbi.RegionSize)

	if len(mem) < 4 {
		return fmt.Errorf("mapping %s: %d bytes", name, len(mem))
	}
	n := binary.BigEndian.Uint32(mem)
	if uint64(n)+4 > uint64(len(mem)) {
		return fmt.Errorf("mapping %s: request of %d bytes in a mapping of %d", name, n, len(mem))
	}
	req := bytes.Clone(mem[:4+n])
	var reply bytes.Buffer
	if err := agent.ServeAgent(p.ag, struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(req), &reply}); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("serving the request: %w", err)
	}
	if reply.Len() < 5 || reply.Len() > len(mem) {
		return fmt.Errorf("reply of %d bytes for a mapping of %d", reply.Len(), len(mem))
	}
	copy(mem, reply.Bytes())
	return nil
}

// checkOwner checks that the mapping is owned by this process's user.
func checkOwner(h windows.Handle) error {
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("GetSecurityInfo: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return err
	}
	if !owner.Equals(tu.User.Sid) {
		return fmt.Errorf("owned by %s, not by %s", owner, tu.User.Sid)
	}
	return nil
}

// TestDefaultSocketPageant: with SSH_AUTH_SOCK unset and no OpenSSH agent
// pipe, "pageant" once a Pageant window exists, and "" before.
func TestDefaultSocketPageant(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	if pipeExists(OpenSSHPipe) {
		t.Skip("an OpenSSH agent is running on this machine")
	}
	if pageant.Available() {
		t.Skip("a Pageant window already exists on this desktop")
	}
	if got := DefaultSocket(); got != "" {
		t.Fatalf("DefaultSocket() = %q with no agent", got)
	}
	startPageant(t, keyring(t))
	if got := DefaultSocket(); got != Pageant {
		t.Errorf("DefaultSocket() = %q, want %q", got, Pageant)
	}
}

// TestDialPageant: Dial("pageant") reaches the Pageant window, lists its
// keys and signs with them.
func TestDialPageant(t *testing.T) {
	k := newKey(t, "pageant-key")
	p := startPageant(t, keyring(t, k))
	for _, sock := range []string{"pageant", "Pageant"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ag, nc, err := Dial(ctx, sock)
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", sock, err)
		}
		keys, err := ag.List()
		if err != nil || len(keys) != 1 || keys[0].Comment != "pageant-key" {
			t.Fatalf("%s: list: %v %v", sock, keys, err)
		}
		sig, err := ag.Sign(k.pub, []byte("data"))
		if err != nil {
			t.Fatalf("%s: sign: %v", sock, err)
		}
		if err := k.pub.Verify([]byte("data"), sig); err != nil {
			t.Fatalf("%s: verify: %v", sock, err)
		}
		if err := nc.Close(); err != nil {
			t.Errorf("%s: close: %v", sock, err)
		}
	}
	if n := p.requests.Load(); n != 4 {
		t.Errorf("the fake Pageant served %d requests, want 4 (a list and a sign per dial)", n)
	}
}

// TestForwardThroughPageant: the filtering agent lists and signs through
// an Upstream on Pageant.
func TestForwardThroughPageant(t *testing.T) {
	k := newKey(t, "pageant-key")
	startPageant(t, keyring(t, k))
	up := NewUpstream(Pageant, 2)
	defer up.Close()
	listAndSign(t, up, k)
}

// TestDialPageantNotRunning: with no Pageant window, before one was made
// and after it closed, Dial("pageant") says Pageant is not running.
func TestDialPageantNotRunning(t *testing.T) {
	if pageant.Available() {
		t.Skip("a Pageant window already exists on this desktop")
	}
	check := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, err := Dial(ctx, Pageant)
		if err == nil || !strings.Contains(err.Error(), "Pageant is not running") {
			t.Errorf("%s: Dial(%q) error %v, want \"Pageant is not running\"", when, Pageant, err)
		}
	}
	check("no window yet")
	t.Run("window", func(t *testing.T) {
		startPageant(t, keyring(t))
		if !pageant.Available() {
			t.Fatal("the fake Pageant's window is not found")
		}
	})
	check("window closed")
}
