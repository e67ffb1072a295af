package cli

// The loom command's own flag scanner. The flags are defined on a
// flag.FlagSet (their values, defaults and help text), but scanned here:
// the standard library's flag package knows neither combined one-letter
// flags (-At), nor a long spelling next to a short one (-H / --hosts), and
// its mistakes come with the whole help. pflag would give the first two
// but would break the single-dash long forms (-batch 2) that Go's flag
// package accepted and scripts may use; this scanner keeps them. It is
// small, and every error it gives is one line naming the flag.

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/loomssh/loom/internal/suggest"
)

// flagError is a mistake on the command line, said in one line.
type flagError struct{ msg string }

func (e *flagError) Error() string { return e.msg }

// flagTable is the loom command's flags: their definitions on fs, and the
// other spelling of each flag that has one (-H is also --hosts).
type flagTable struct {
	fs    *flag.FlagSet
	alias map[string]string // other spelling -> canonical name
	other map[string]string // canonical name -> other spelling
}

// long adds the long spelling of flag name (a one-letter flag).
func (t *flagTable) long(name, long string) {
	if t.fs.Lookup(name) == nil {
		panic("cli: alias for an undefined flag " + name)
	}
	t.alias[long] = name
	t.other[name] = long
}

// lookup returns the flag spelt name, either spelling.
func (t *flagTable) lookup(name string) *flag.Flag {
	if f := t.fs.Lookup(name); f != nil {
		return f
	}
	if c, ok := t.alias[name]; ok {
		return t.fs.Lookup(c)
	}
	return nil
}

// spell is how a flag is written: -H or --batch.
func spell(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// scan sets the flags at the start of args and returns what follows them:
// it stops at the first word that is not a flag (returned with the rest)
// or after "--" (dashdash is then true). Accepted forms, as GNU and ssh
// users write them: -H web1, -Hweb1, -H=web1, --hosts web1,
// --hosts=web1, -At (one-letter flags combined, the last may take a
// value: -tHweb1), and Go's single-dash long flags (-batch 2).
func (t *flagTable) scan(args []string) (rest []string, dashdash bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args[i+1:], true, nil
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			return args[i:], false, nil
		}
		next := func() (string, bool) {
			if i+1 < len(args) && args[i+1] != "--" {
				i++
				return args[i], true
			}
			return "", false
		}
		body := strings.TrimPrefix(a, "-")
		dashes := "-"
		if strings.HasPrefix(body, "-") {
			body, dashes = body[1:], "--"
		}
		name, val, hasVal := strings.Cut(body, "=")
		if dashes == "--" || len(name) > 1 && t.lookup(name) != nil {
			f := t.lookup(name)
			if f == nil {
				return nil, false, t.unknown(dashes + name)
			}
			if isBool(f) {
				if !hasVal {
					val = "true"
				}
			} else if !hasVal {
				if val, hasVal = next(); !hasVal {
					return nil, false, t.missing(f, dashes+name)
				}
			}
			if err := t.set(f, dashes+name, val); err != nil {
				return nil, false, err
			}
			continue
		}
		// One-letter flags, combined: -At, -tH web1, -p22.
		for j := 0; j < len(body); j++ {
			letter := body[j : j+1]
			f := t.lookup(letter)
			if f == nil {
				if j > 0 {
					return nil, false, &flagError{fmt.Sprintf("unknown flag -%s (in %s)%s", letter, a, t.suggest(letter))}
				}
				return nil, false, t.unknown(a)
			}
			if isBool(f) {
				v := "true"
				if j+1 < len(body) && body[j+1] == '=' { // -t=false
					v, j = body[j+2:], len(body)
				}
				if err := t.set(f, "-"+letter, v); err != nil {
					return nil, false, err
				}
				continue
			}
			v := strings.TrimPrefix(body[j+1:], "=")
			if v == "" {
				var ok bool
				if v, ok = next(); !ok {
					return nil, false, t.missing(f, "-"+letter)
				}
			}
			if err := t.set(f, "-"+letter, v); err != nil {
				return nil, false, err
			}
			break
		}
	}
	return nil, false, nil
}

// set sets flag f (written as given) to v; a bad value is a flagError
// saying what the flag wants.
func (t *flagTable) set(f *flag.Flag, given, v string) error {
	if err := t.fs.Set(f.Name, v); err != nil {
		return &flagError{fmt.Sprintf("%s %s: %s", given, v, t.want(f, v, err))}
	}
	return nil
}

// want says what a flag wants, for a value it could not take.
func (t *flagTable) want(f *flag.Flag, v string, err error) string {
	ex := example(f)
	var cur any
	if g, ok := f.Value.(flag.Getter); ok {
		cur = g.Get()
	}
	switch cur.(type) {
	case time.Duration:
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return fmt.Sprintf("needs a unit, e.g. %ss (or %sm, %sms)", v, v, v)
		}
		return fmt.Sprintf("want a duration with a unit, e.g. %s %s", spell(f.Name), ex)
	case int:
		return fmt.Sprintf("want a whole number, e.g. %s %s", spell(f.Name), ex)
	case bool:
		return "want true or false (or leave the value out)"
	}
	msg := err.Error()
	if ex != "" && !strings.Contains(msg, "want") {
		msg += fmt.Sprintf(", e.g. %s %s", spell(f.Name), ex)
	}
	return msg
}

// examples are a typical value of the flags that take one, for messages.
var examples = map[string]string{
	"H": "web1,web[01-20]", "R": "web", "x": "web3", "I": "loom.yaml", "F": "~/.ssh/config",
	"i": "~/.ssh/id_ed25519", "u": "deploy", "p": "2222", "o": "StrictHostKeyChecking=accept-new",
	"P": "50", "handshakes": "32", "batch": "1,5,25%", "max-fail": "2", "max-fail-batch": "10%", "retries": "2",
	"connect-timeout": "10s", "timeout": "30s", "host-timeout": "5m", "agent-key": "SHA256:…",
	"agent-hosts": "web*", "mode": "0644", "owner": "www-data:www-data", "exclude": "'*.tmp'",
	"log-dir": "logs", "compile": "./deploy", "f": "ops/loomfile.go",
	"J": "bastion", "L": "8080:localhost:80", "remote-forward": "9000:localhost:9000",
	"sudo-user": "postgres", "e": "LANG=C", "pause": "30s", "pick": "3", "seed": "42",
	"hide": "stdout", "show": "stderr",
}

func example(f *flag.Flag) string { return examples[f.Name] }

// missing is the error for a flag given without its value.
func (t *flagTable) missing(f *flag.Flag, given string) error {
	what, _ := flag.UnquoteUsage(f)
	msg := fmt.Sprintf("%s needs a value", given)
	if ex := example(f); ex != "" {
		msg += fmt.Sprintf(" (%s, e.g. %s %s)", what, given, ex)
	}
	return &flagError{msg}
}

// unknown is the error for a flag loom does not have, with the closest
// flag it has.
func (t *flagTable) unknown(given string) error {
	name := strings.TrimLeft(given, "-")
	if n, _, ok := strings.Cut(name, "="); ok {
		name = n
	}
	return &flagError{fmt.Sprintf("unknown flag %s%s", given, t.suggest(name))}
}

// habits are other tools' flags that loom spells otherwise.
var habits = map[string]string{
	"w": "-H (pdsh's -w)", "g": "-R (pdsh's -g)", "V": "--version", "q": "--json or --gather (loom has no quiet mode)",
	"T":       "nothing: commands get no terminal unless -t (ssh -T is the default)",
	"verbose": "-v", "dryrun": "--dry-run", "hosts-file": "-H @FILE",
}

// suggest returns " (did you mean --gather?)" for the flag closest to name.
func (t *flagTable) suggest(name string) string {
	if h, ok := habits[name]; ok {
		return " (did you mean " + h + "?)"
	}
	if len(name) < 2 {
		return ""
	}
	var names []string
	t.fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for a := range t.alias {
		names = append(names, a)
	}
	sort.Strings(names)
	best, bestD := "", 3
	if len(name) <= 4 {
		bestD = 2
	}
	for _, n := range names {
		if len(n) < 2 {
			continue
		}
		d := suggest.Distance(name, n)
		if strings.HasPrefix(n, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean --" + best + "?)"
}
