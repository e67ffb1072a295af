package shquote

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var quoteTests = []struct{ in, want string }{
	{"", "''"},
	{"abc", "abc"},
	{"ABC_xyz-0.9", "ABC_xyz-0.9"},
	{"/usr/local/bin", "/usr/local/bin"},
	{"user@host:/path,a+b%c", "user@host:/path,a+b%c"},
	// zsh expands a leading '=' ("=ls" is /usr/bin/ls; "==" is an error).
	{"=ls", "'=ls'"},
	{"==", "'=='"},
	{"-rf", "-rf"},
	{"--opt=value", "--opt=value"},
	{"a b", "'a b'"},
	{"it's", `'it'\''s'`},
	{"'", `''\'''`},
	{"''", `''\'''\'''`},
	{"$HOME", "'$HOME'"},
	{"$(id)", "'$(id)'"},
	{"`id`", "'`id`'"},
	{`"x"`, `'"x"'`},
	{`a\b`, `'a\b'`},
	{"~", "'~'"},
	{"~root", "'~root'"},
	{"*", "'*'"},
	{"a?b", "'a?b'"},
	{"[ab]", "'[ab]'"},
	{"{a,b}", "'{a,b}'"},
	{"a^b", "'a^b'"},
	{"#comment", "'#comment'"},
	{"a;b", "'a;b'"},
	{"a&b", "'a&b'"},
	{"a|b", "'a|b'"},
	{"a>b", "'a>b'"},
	{"a<b", "'a<b'"},
	{"(a)", "'(a)'"},
	{"!", "'!'"},
	{"a\nb", "'a\nb'"},
	{"a\tb", "'a\tb'"},
	{"\xff\xfe", "'\xff\xfe'"},
	{"héllo", "'héllo'"},
	// Command-position meanings are quoted away.
	{"if", "'if'"},
	{"done", "'done'"},
	{"time", "'time'"},
	{"iff", "iff"},
	{"A=b", "'A=b'"},
	{"_x1=", "'_x1='"},
	{"PATH=/bin:~/bin", "'PATH=/bin:~/bin'"},
	{"1A=b", "1A=b"},
	{"=b", "'=b'"},
	{"a.b=c", "a.b=c"},
}

func TestQuote(t *testing.T) {
	for _, tt := range quoteTests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{""}, "''"},
		{[]string{"ls", "-l", "my file"}, "ls -l 'my file'"},
		{[]string{"echo", "", "x"}, "echo '' x"},
		{[]string{"sh", "-c", "echo $1", "sh", "it's"}, `sh -c 'echo $1' sh 'it'\''s'`},
	}
	for _, tt := range tests {
		if got := Join(tt.in); got != tt.want {
			t.Errorf("Join(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// shells returns the POSIX shells on this machine to check against.
func shells(t testing.TB) []string {
	var found []string
	for _, sh := range []string{"/bin/sh", "dash", "bash", "ksh", "mksh", "busybox", "zsh"} {
		p, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		t.Skip("no POSIX shell found; shell round-trip tests skipped")
	}
	return found
}

// shellArgs runs `set -- <line>` in sh and returns the resulting arguments.
func shellArgs(t testing.TB, sh, line string) []string {
	t.Helper()
	args := []string{"-c", `set -- ` + line + `; for a in "$@"; do printf '%s\0' "$a"; done`}
	if filepath.Base(sh) == "busybox" {
		args = append([]string{"sh"}, args...)
	}
	cmd := exec.Command(sh, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v: %s", sh, args, err, stderr.String())
	}
	if len(out) == 0 {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestShellRoundTrip checks every table entry, and all of them at once, in
// each shell on the machine.
func TestShellRoundTrip(t *testing.T) {
	var all []string
	for _, tt := range quoteTests {
		all = append(all, tt.in)
	}
	all = append(all, "\x01\x7f\x80", "a'b'c", `\'`, "'\\''", "$'x'", "a b  c ")
	for _, sh := range shells(t) {
		for _, s := range all {
			got := shellArgs(t, sh, Join([]string{s}))
			if len(got) != 1 || got[0] != s {
				t.Errorf("%s: Quote(%q) = %s read back as %q", sh, s, Quote(s), got)
			}
		}
		got := shellArgs(t, sh, Join(all))
		if strings.Join(got, "\x00") != strings.Join(all, "\x00") {
			t.Errorf("%s: Join of %d strings read back as %d: %q", sh, len(all), len(got), got)
		}
	}
}

// TestCommandPosition checks that a joined argv whose first word looks like a
// reserved word or an assignment still runs that program, as exec would.
func TestCommandPosition(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"if", "A=b", "time"} {
		script := "#!/bin/sh\nprintf '%s' \"ran $0 $#\"\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range shells(t) {
		if filepath.Base(sh) == "busybox" {
			continue
		}
		for _, name := range []string{"if", "A=b", "time"} {
			cmd := exec.Command(sh, "-c", Join([]string{name, "x y"}))
			cmd.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
			out, err := cmd.CombinedOutput()
			want := "ran " + filepath.Join(dir, name) + " 1"
			if err != nil || string(out) != want {
				t.Errorf("%s -c %s: %q, %v; want %q", sh, Join([]string{name, "x y"}), out, err, want)
			}
		}
	}
}

// FuzzQuote checks that /bin/sh reads Quote(s) back as exactly s.
func FuzzQuote(f *testing.F) {
	for _, tt := range quoteTests {
		f.Add(tt.in)
	}
	f.Add("'\\''")
	f.Add("\x00")
	sh, err := exec.LookPath("/bin/sh")
	if err != nil {
		f.Skip("no /bin/sh")
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if s == "" {
			if q != "''" {
				t.Fatalf("Quote(\"\") = %s", q)
			}
		}
		if strings.IndexByte(s, 0) >= 0 || len(s) > 64<<10 {
			return // NUL cannot be passed in argv; keep under MAX_ARG_STRLEN
		}
		out, err := exec.Command(sh, "-c", "printf '%s' "+q).Output()
		if err != nil {
			t.Fatalf("sh -c printf %s: %v", q, err)
		}
		if string(out) != s {
			t.Fatalf("Quote(%q) = %s; sh read back %q", s, q, out)
		}
	})
}
