package cli

// The settings layer: loom.yaml's settings: section and LOOM_* variables
// give the flags' defaults. Precedence, first wins: a flag on the command
// line; for a task, its loom.Task settings; a LOOM_* variable; loom.yaml's
// settings:; ssh_config (for what it sets per host); Loom's default.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/loomssh/loom/internal/inventory"
	"github.com/loomssh/loom/internal/suggest"
)

// settingFlags are the flags of the setting keys whose flag is spelt
// otherwise (the others are the key itself).
var settingFlags = map[string]string{"parallel": "P", "forward-agent": "A"}

// flagOf returns the name of the flag a setting key stands for.
func flagOf(key string) string {
	if f, ok := settingFlags[key]; ok {
		return f
	}
	return key
}

// settingEnv is the variable of a setting: LOOM_CONNECT_TIMEOUT.
func settingEnv(key string) string {
	return "LOOM_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// otherLoomVars are LOOM_* variables that are not settings.
var otherLoomVars = []string{"LOOM_CACHE", "LOOM_INVENTORY", "LOOM_YES"}

// setting is where one flag's value came from, for -v.
type setting struct {
	key, value, from string
}

// applySettings sets the flags not given on the command line from LOOM_*
// variables and loom.yaml's settings: (-I FILE, or found upward; -I none:
// none). A bad value is an error naming the file and line, or the
// variable. getenv is os.Getenv in the loom command.
func applySettings(o *options, t *flagTable, getenv func(string) string, environ []string, stderr io.Writer) error {
	file, err := fileSettings(o)
	if err != nil {
		return err
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "LOOM_") || slices.Contains(otherLoomVars, name) || strings.HasPrefix(name, "LOOM_ANSWER_") {
			continue
		}
		known, near := false, ""
		for _, k := range inventory.SettingKeys {
			if settingEnv(k) == name {
				known = true
			} else if suggest.Distance(name, settingEnv(k)) <= 2 {
				near = settingEnv(k)
			}
		}
		if !known && near != "" {
			fmt.Fprintf(stderr, "%s: warning: %s is not a loom setting (did you mean %s?)\n", o.name, name, near)
		}
	}
	for _, key := range inventory.SettingKeys {
		name := flagOf(key)
		f := t.fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("settings: %s has no flag", key) // a test keeps the two lists one
		}
		if o.set[name] {
			o.sources = append(o.sources, setting{key, f.Value.String(), "flag"})
			continue
		}
		var value, from, where string
		if v := getenv(settingEnv(key)); v != "" {
			value, from, where = v, settingEnv(key), settingEnv(key)+"="+v
		} else if i := slices.IndexFunc(file, func(s inventory.Setting) bool { return s.Key == key }); i >= 0 {
			value, from, where = file[i].Value, file[i].Where, file[i].Where+": settings: "+key+": "+file[i].Value
		} else {
			continue
		}
		if key == "sudo-user" {
			// The user of --sudo, when it is given: as a default it does
			// not turn sudo on for every command.
			if err := checkSudoUser(value); err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
			o.sudoUserDefault = value
		} else if err := t.fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: %s", where, t.want(f, value, err))
		}
		o.sources = append(o.sources, setting{key, value, from})
	}
	return nil
}

// fileSettings reads the settings: of the inventory the run would use,
// without running its dynamic commands.
func fileSettings(o *options) ([]inventory.Setting, error) {
	path := o.inventory
	switch path {
	case "none":
		return nil, nil
	case "":
		wd, err := os.Getwd()
		if err != nil {
			return nil, nil
		}
		if path, err = inventory.Find(wd); err != nil || path == "" {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && o.inventory != "" {
		return nil, fmt.Errorf("-I %s: no such file", path)
	}
	if err != nil {
		return nil, err
	}
	inv, err := inventory.Parse(data, path)
	if err != nil {
		return nil, err
	}
	return inv.Settings(), nil
}

// showSettings says, with -v, the settings that are not Loom's defaults
// and where each came from.
func showSettings(w io.Writer, o *options) {
	if !o.verbose || len(o.sources) == 0 {
		return
	}
	parts := make([]string, len(o.sources))
	for i, s := range o.sources {
		parts[i] = fmt.Sprintf("%s %s (%s)", spell(flagOf(s.key)), s.value, s.from)
	}
	fmt.Fprintf(w, "%s: settings: %s; ssh_config then decides per host what these leave (user, port, ConnectTimeout...)\n", o.name, strings.Join(parts, ", "))
}

// checkSudoUser refuses a sudo user that is not a plain name.
func checkSudoUser(u string) error {
	if strings.ContainsAny(u, " \t\n'\"$`\\;|&") || strings.HasPrefix(u, "-") {
		return fmt.Errorf("sudo-user %q: not a user name", u)
	}
	return nil
}
