package sshconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	// "~name" must not depend on the machine running the tests.
	lookupHome = func(name string) (string, error) {
		if name == "alice" {
			return "/home/alice", nil
		}
		return "", fmt.Errorf("no user %q", name)
	}
	os.Exit(m.Run())
}

var testEnv = map[string]string{"AGENT": "/run/agent.sock", "KEYS": "/srv/keys", "EMPTY": ""}

// testOptions describes a fixed local side: user "me" on box.example.com.
func testOptions() Options {
	return Options{
		LocalUser:     "me",
		HomeDir:       "/home/me",
		LocalHostname: "box.example.com",
		UID:           "1000",
		LookupEnv: func(k string) (string, bool) {
			v, ok := testEnv[k]
			return v, ok
		},
	}
}

func mustParse(t *testing.T, cfg string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(cfg), "test.conf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// resolve parses cfg and resolves target with testOptions changed by mod.
func resolve(t *testing.T, cfg, target string, mod func(*Options)) *Host {
	t.Helper()
	o := testOptions()
	if mod != nil {
		mod(&o)
	}
	h, err := mustParse(t, cfg).Resolve(target, o)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", target, err)
	}
	return h
}

// fields are expected Host field values by field name.
type fields map[string]any

func checkFields(t *testing.T, h *Host, want fields) {
	t.Helper()
	v := reflect.ValueOf(h).Elem()
	for name, w := range want {
		f := v.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("Host has no field %s", name)
		}
		got := f.Interface()
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", name, got, w)
		}
	}
}

// writeFiles creates files (relative to dir) and returns dir.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
