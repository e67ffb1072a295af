package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/shquote"
)

// runRecord is what the last run left under the user's state directory,
// for --rerun-failed, -H @failed / @unreachable / @last, and loom last.
// It holds host names, statuses and short reasons ("exit 7", "host key"),
// the subcommand and the command or tasks as typed: never output, flag
// values (-e, passwords) or error text.
type runRecord struct {
	Time    time.Time    `json:"time"`
	Sub     string       `json:"sub"`               // run, put, get, sync or task
	Command []string     `json:"command,omitempty"` // the words after -- or the task words
	Hosts   []hostRecord `json:"hosts"`
}

type hostRecord struct {
	Host   string `json:"host"`
	Status string `json:"status"` // ok, failed, unreachable, interrupted, not started
	Reason string `json:"reason,omitempty"`
}

// stateDir is where loom keeps its run record: $XDG_STATE_HOME/loom, else
// ~/.local/state/loom on Unix, else the user's config directory's loom.
func stateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "loom"), nil
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".local", "state", "loom"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "loom", "state"), nil
}

// record adds a group's results to this run's record and writes it
// (0600 in a 0700 directory, replaced whole). A host seen twice keeps its
// worst status. A record that cannot be written is said once, and the
// run goes on.
func (e *engine) record(sub string, rs *loom.Results) {
	if e.o.dryRun || rs == nil {
		return
	}
	if e.rec == nil {
		e.rec = &runRecord{Time: time.Now().UTC().Truncate(time.Second), Sub: sub, Command: e.o.args}
		if sub == "ssh" {
			e.rec.Command = nil
		}
	}
	index := map[string]int{}
	for i, h := range e.rec.Hosts {
		index[h.Host] = i
	}
	for _, hr := range rs.Hosts {
		h := hostRecord{Host: hr.Host, Status: hr.Status.String()}
		if hr.Status != loom.StatusOK {
			h.Reason = hr.Reason()
		}
		if i, ok := index[hr.Host]; ok {
			if e.rec.Hosts[i].Status == "ok" {
				e.rec.Hosts[i] = h
			}
			continue
		}
		index[hr.Host] = len(e.rec.Hosts)
		e.rec.Hosts = append(e.rec.Hosts, h)
	}
	if err := writeRecord(e.rec); err != nil && !e.recWarned {
		e.recWarned = true
		e.p.Printf(true, "%s: warning: the run record (for --rerun-failed) was not written: %v\n", e.o.name, err)
	}
}

func writeRecord(rec *runRecord) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".last-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "last.json"))
}

// readRecord reads the last run's record; a record that is not the
// user's own, or that others may write, is refused.
func readRecord() (*runRecord, string, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "last.json")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, path, fmt.Errorf("no run recorded yet (%s)", path)
	}
	if err != nil {
		return nil, path, err
	}
	defer f.Close()
	if err := checkPrivate(f); err != nil {
		return nil, path, fmt.Errorf("%s: %v", path, err)
	}
	var rec runRecord
	if err := json.NewDecoder(io.LimitReader(f, 64<<20)).Decode(&rec); err != nil {
		return nil, path, fmt.Errorf("%s: damaged run record: %v", path, err)
	}
	return &rec, path, nil
}

// recordHosts returns the hosts of the last run that -H @failed,
// @unreachable or @last names: not ok, unreachable, or all.
func recordHosts(which string) ([]string, error) {
	rec, _, err := readRecord()
	if err != nil {
		return nil, fmt.Errorf("@%s: %v", which, err)
	}
	var names []string
	for _, h := range rec.Hosts {
		switch {
		case which == "last",
			which == "failed" && h.Status != "ok",
			which == "unreachable" && h.Status == "unreachable":
			names = append(names, h.Host)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("@%s: the last run (%s, %s) had no %s host", which, rec.Time.Local().Format(time.DateTime), rec.describe(), which)
	}
	return names, nil
}

func (r *runRecord) describe() string {
	what := r.Sub
	if len(r.Command) > 0 {
		what += " " + shquote.Join(r.Command)
	}
	return what
}

// showLast is loom last: the last run's record.
func showLast(w io.Writer) error {
	rec, path, err := readRecord()
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, h := range rec.Hosts {
		count[h.Status]++
	}
	fmt.Fprintf(w, "# %s: %s on %d host%s (%s)\n", rec.Time.Local().Format(time.DateTime), rec.describe(), len(rec.Hosts), plural(len(rec.Hosts)), path)
	width := 0
	for _, h := range rec.Hosts {
		width = max(width, len(h.Host))
	}
	for _, h := range rec.Hosts {
		line := fmt.Sprintf("%-*s  %s", width, h.Host, h.Status)
		if h.Reason != "" && h.Reason != h.Status {
			line += " (" + h.Reason + ")"
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintf(w, "# %d ok, %d failed, %d unreachable; loom --rerun-failed ... runs the %d not ok again\n",
		count["ok"], count["failed"], count["unreachable"], len(rec.Hosts)-count["ok"])
	return nil
}
