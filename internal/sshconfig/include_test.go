package sshconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// loadHome writes files under a fresh home directory and loads
// ~/.ssh/config from it.
func loadHome(t *testing.T, files map[string]string) (*Config, Options) {
	t.Helper()
	home := writeFiles(t, t.TempDir(), files)
	c, err := Load(home, Files(home, "")[0])
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	o := testOptions()
	o.HomeDir = home
	return c, o
}

func TestInclude(t *testing.T) {
	c, o := loadHome(t, map[string]string{
		".ssh/config": `
Include conf.d/*.conf
Host *
  User fallback
  Port 22
`,
		".ssh/conf.d/a.conf":       "Host a\n  Port 1\n",
		".ssh/conf.d/b.conf":       "Host *\n  Port 2\n",
		".ssh/conf.d/.hidden.conf": "Port 3\n",
		".ssh/conf.d/c.txt":        "Port 4\n",
	})
	for target, want := range map[string]fields{
		"a": {"Port": 1, "User": "fallback"},
		"b": {"Port": 2, "User": "fallback"},
	} {
		h, err := c.Resolve(target, o)
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, h, want)
	}
}

func TestIncludeOrder(t *testing.T) {
	// Globs are read in lexical order: "10" sorts before "2".
	c, o := loadHome(t, map[string]string{
		".ssh/config":     "Include inc/*\n",
		".ssh/inc/2":      "Port 2\nIdentityFile /two\n",
		".ssh/inc/10":     "Port 10\nIdentityFile /ten\n",
		".ssh/inc/sub/99": "Port 99\n",
	})
	h, err := c.Resolve("h", o)
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, h, fields{"Port": 10, "IdentityFiles": []string{"/ten", "/two"}})
}

func TestIncludeInBlock(t *testing.T) {
	c, o := loadHome(t, map[string]string{
		".ssh/config": `
Host web
  Include web.conf
  User after-include
Host *
  IdentityFile ~/.ssh/common
`,
		".ssh/web.conf": `
Port 5
Host db
  User dbuser
Host nomatch
  Port 6
`,
	})
	tests := map[string]fields{
		// The include applies to web; its own Host lines do not leak out.
		"web": {"Port": 5, "User": "after-include"},
		// For db the including block is inactive, so nothing in the
		// included file applies, even its "Host db" block.
		"db": {"Port": 22, "User": "me"},
	}
	for target, want := range tests {
		h, err := c.Resolve(target, o)
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, h, want)
	}
}

func TestIncludePaths(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	abs := filepath.Join(dir, "abs.conf")
	writeFiles(t, dir, map[string]string{
		"abs.conf":            "Host abs\n  Port 1\n",
		"home/tilde.conf":     "Host tilde\n  Port 2\n",
		"home/.ssh/rel.conf":  "Host rel\n  Port 3\n",
		"home/.ssh/multi.a":   "Host multi\n  Port 4\n",
		"home/.ssh/quoted sp": "Host quoted\n  Port 5\n",
		"home/.ssh/config": "Include " + abs + " ~/tilde.conf rel.conf\n" +
			"Include missing.conf nothing/*.conf\nInclude multi.?\nInclude \"quoted sp\"\n",
	})
	c, err := Load(home, Files(home, "")...)
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.HomeDir = home
	for target, port := range map[string]int{"abs": 1, "tilde": 2, "rel": 3, "multi": 4, "quoted": 5, "other": 22} {
		h, err := c.Resolve(target, o)
		if err != nil {
			t.Fatal(err)
		}
		if h.Port != port {
			t.Errorf("%s: Port = %d, want %d", target, h.Port, port)
		}
	}
}

func TestIncludeSystem(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"etc/ssh_config":          "Include ssh_config.d/*.conf\nHost *\n  Port 2\n",
		"etc/ssh_config.d/a.conf": "Host *\n  User sys\n",
		"home/.ssh/config":        "Host h\n  Port 1\n",
	})
	l := newLoader(filepath.Join(dir, "home"))
	l.sysDir = filepath.Join(dir, "etc")
	c, err := l.load([]File{
		{Path: filepath.Join(dir, "home/.ssh/config"), Kind: UserConfig, Optional: true},
		{Path: filepath.Join(dir, "etc/ssh_config"), Kind: SystemConfig, Optional: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Resolve("h", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, h, fields{"Port": 1, "User": "sys"})
	h, _ = c.Resolve("x", testOptions())
	checkFields(t, h, fields{"Port": 2})

	// "~" is not allowed in a system file.
	_, err = l.load([]File{{Path: writeFiles(t, dir, map[string]string{"bad": "\nInclude ~/x\n"}) + "/bad", Kind: SystemConfig}})
	if err == nil || !strings.Contains(err.Error(), "/bad:2: Include: \"~/x\": '~' is not allowed in a system configuration file") {
		t.Errorf("error = %v", err)
	}
}

func TestIncludeErrors(t *testing.T) {
	home := writeFiles(t, t.TempDir(), map[string]string{
		".ssh/loop.conf":  "Include loop.conf\n",
		".ssh/bad.conf":   "# first\nPort x\n",
		".ssh/dir/x.conf": "Port 1\n",
	})
	tests := []struct{ cfg, want string }{
		{"Include loop.conf", "loop.conf:1: Include: \"loop.conf\": too many nested Includes (limit 16)"},
		{"Include bad.conf", "bad.conf:2: Port: invalid port \"x\" (want 1 to 65535)"},
		{"Include [", "config:1: Include: \"[\": syntax error in pattern"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct{ cfg, want string }{"Include /dev/null", "/dev/null: not a regular file"})
	}
	for _, tt := range tests {
		writeFiles(t, home, map[string]string{".ssh/config": tt.cfg + "\n"})
		_, err := Load(home, Files(home, "")...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error = %v, want %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: multi-line error %q", tt.cfg, err)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	home := t.TempDir()
	if _, err := Load(home, File{Path: home}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Load(directory): %v", err)
	}
	if got := Files(home, "none"); got != nil {
		t.Errorf("Files(-F none) = %v", got)
	}
	want := []File{
		{Path: filepath.Join(home, ".ssh/config"), Kind: UserConfig, Optional: true},
		{Path: SystemConfigFile, Kind: SystemConfig, Optional: true},
	}
	if got := Files(home, ""); !reflect.DeepEqual(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
	if got := Files(home, "/x/cfg"); !reflect.DeepEqual(got, []File{{Path: "/x/cfg", Kind: UserConfig}}) {
		t.Errorf("Files(-F) = %v", got)
	}

	// Optional missing files are skipped; a missing -F file is an error.
	c, err := Load(home, File{Path: filepath.Join(home, "nope"), Optional: true})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.Resolve("h", testOptions()); err != nil || h.Port != 22 {
		t.Errorf("empty config: %v %v", h, err)
	}
	_, err = Load(home, Files(home, filepath.Join(home, "nope"))...)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, "nope")) {
		t.Errorf("missing -F file: %v", err)
	}

	// The first file's values win over the second's.
	writeFiles(t, home, map[string]string{"user": "Port 1\n", "sys": "Port 2\nUser sys\n"})
	c, err = Load(home, File{Path: filepath.Join(home, "user")}, File{Path: filepath.Join(home, "sys"), Kind: SystemConfig})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Resolve("h", testOptions())
	checkFields(t, h, fields{"Port": 1, "User": "sys"})

	// Each file starts active, whatever block the previous one ended in.
	writeFiles(t, home, map[string]string{"user": "Host other\n  Port 1\n"})
	c, _ = Load(home, File{Path: filepath.Join(home, "user")}, File{Path: filepath.Join(home, "sys"), Kind: SystemConfig})
	h, _ = c.Resolve("h", testOptions())
	checkFields(t, h, fields{"Port": 2})
}

func TestParseFileTooLarge(t *testing.T) {
	big := strings.NewReader(strings.Repeat("# x\n", maxFileSize/4+1))
	if _, err := Parse(big, "big"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("error = %v", err)
	}
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, []byte(strings.Repeat("# x\n", maxFileSize/4+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("", File{Path: p}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("error = %v", err)
	}
}
