package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomssh/loom"
	"github.com/loomssh/loom/internal/hostlist"
	"github.com/loomssh/loom/internal/output"
)

// report shows a run: live lines (or JSON, or gathered output), a progress
// line, log files, and the closing summary.
type report struct {
	o         *options
	p         *output.Printer
	env       Env
	total     int
	single    bool // one host, plain output: passed through like ssh
	width     int
	start     time.Time
	n         counters
	gather    map[string]*gathered // by output+status, when --gather
	sub       string               // run, put, get or sync
	transfers transfers            // put, get, sync: each host's Transfer until reported
	logs      logFailures          // --log-dir files that could not be written
	same      map[uint64]int       // hosts by hash of their output, for the --gather hint
}

// logFailures counts the hosts whose --log-dir file could not be
// created or written: the run then does not exit 0.
type logFailures struct {
	mu    sync.Mutex
	n     int
	first string
}

func (l *logFailures) lost(host string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.first = fmt.Sprintf("%s: %v", host, err)
	}
	l.n++
}

type gathered struct {
	hosts  []string
	stdout string
	stderr string
	status string
	cut    bool // the output was cut at MaxOutput
}

func newReport(o *options, p *output.Printer, env Env, hosts []loom.Host) *report {
	r := &report{o: o, p: p, env: env, total: len(hosts), start: time.Now()}
	r.single = len(hosts) == 1 && !o.json && !o.gather
	for _, h := range hosts {
		r.width = max(r.width, len(h.Name))
	}
	if o.gather {
		r.gather = map[string]*gathered{}
	}
	return r
}

// output gives a host's live writers.
func (r *report) output(h loom.Host) (stdout, stderr io.Writer) {
	var out, errw []io.Writer
	switch {
	case r.o.json || r.o.gather:
	case r.single:
		out, errw = []io.Writer{rawWriter{r.p, false}}, []io.Writer{rawWriter{r.p, true}}
	default:
		pad := strings.Repeat(" ", r.width-len(h.Name))
		name := h.Name
		sep, errSep := " | ", " ! "
		if r.env.Color {
			c := palette[hashName(h.Name)%uint32(len(palette))]
			name = c + name + reset
			sep, errSep = dim+" | "+reset, red+" ! "+reset
		}
		out = []io.Writer{&output.Lines{P: r.p, Prefix: name + pad + sep}}
		errw = []io.Writer{&output.Lines{P: r.p, Stderr: true, Prefix: name + pad + errSep}}
	}
	if r.o.hidden("stdout") {
		out = nil
	}
	if r.o.hidden("stderr") {
		errw = nil
	}
	if r.o.logDir != "" {
		f, err := os.OpenFile(filepath.Join(r.o.logDir, logName(h.Name)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			r.logs.lost(h.Name, err)
			r.p.Printf(true, "loom: %s: log file: %v\n", h.Name, err)
		} else {
			lf := &lockedFile{f: f, host: h.Name, logs: &r.logs}
			out, errw = append(out, lf), append(errw, lf)
		}
	}
	return multi(out), multi(errw)
}

// logName makes a host name safe as a file name.
func logName(host string) string {
	r := strings.NewReplacer("/", "_", "\\", "_", "\x00", "_")
	n := r.Replace(host)
	if n == "." || n == ".." || n == "" {
		n = "_" + n
	}
	return n + ".log"
}

func (r *report) started(loom.Host) {
	r.n.started.Add(1)
	hostsRunning.Add(1)
}

// hostsRunning counts the hosts at work in this process, in every group:
// a task's local output is prefixed while any is.
var hostsRunning atomic.Int64

func (r *report) done(hr *loom.HostResult) {
	r.n.done.Add(1)
	if !r.single && !r.o.json && !r.o.gather && hr.Result != nil && hr.Result.Stdout+hr.Result.Stderr != "" {
		if r.same == nil {
			r.same = map[uint64]int{}
		}
		h := fnv.New64a()
		io.WriteString(h, hr.Result.Stdout+"\x00"+hr.Result.Stderr)
		r.same[h.Sum64()]++
	}
	if hr.Status != loom.StatusNotStarted {
		hostsRunning.Add(-1)
	}
	if hr.Status == loom.StatusFailed || hr.Status == loom.StatusUnreachable {
		r.n.failed.Add(1)
	}
	var tr *loom.Transfer
	if r.sub != "run" {
		tr = r.transfers.take(hr.Host)
	}
	switch {
	case r.o.json:
		r.printJSON(hr, tr)
	case tr != nil && tr.Err == nil:
		line := describeTransfer(r.sub, tr)
		if r.o.check {
			for _, p := range tr.Changed {
				line += "\n  would write " + p
			}
			for _, p := range tr.Removed {
				line += "\n  would remove " + p
			}
		}
		if r.single {
			r.p.Printf(true, "%s\n", line)
		} else {
			r.p.Printf(false, "%s%s | %s\n", hr.Host, strings.Repeat(" ", r.width-len(hr.Host)), line)
		}
	case r.o.gather && hr.Result != nil && (hr.Status == loom.StatusOK || hr.Status == loom.StatusFailed):
		status := "ok"
		if hr.Status != loom.StatusOK {
			status = hr.Reason()
		}
		key := hr.Result.Stdout + "\x00" + hr.Result.Stderr + "\x00" + status + "\x00" + fmt.Sprint(hr.Result.Truncated)
		g := r.gather[key]
		if g == nil {
			g = &gathered{stdout: hr.Result.Stdout, stderr: hr.Result.Stderr, status: status, cut: hr.Result.Truncated}
			r.gather[key] = g
		}
		g.hosts = append(g.hosts, hr.Host)
	}
}

// jsonResult is one line of --json output.
type jsonResult struct {
	Host     string `json:"host"`
	OK       bool   `json:"ok"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	ExitCode *int   `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// Truncated: the command printed more than MaxOutput on stdout or
	// stderr, and Stdout/Stderr hold only the first part.
	Truncated  bool    `json:"truncated,omitempty"`
	Error      *string `json:"error"`
	DurationMS int64   `json:"duration_ms"`
	Start      string  `json:"start,omitempty"`
	// Agent lists the host's requests of the forwarded agent (-A).
	Agent []loom.AgentEvent `json:"agent,omitempty"`
	// Files, Bytes, Changed and Removed report put, get and sync.
	Files   *int     `json:"files,omitempty"`
	Bytes   *int64   `json:"bytes,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Cut lists the files get cut at the size the host gave (it sent more).
	Cut []string `json:"cut,omitempty"`
}

func (r *report) printJSON(hr *loom.HostResult, tr *loom.Transfer) {
	j := jsonResult{Host: hr.Host, OK: hr.Status == loom.StatusOK, Status: hr.Status.String(), DurationMS: hr.Duration.Milliseconds(), Agent: hr.AgentEvents}
	if !j.OK {
		j.Reason = hr.Reason()
	}
	if !hr.Start.IsZero() {
		j.Start = hr.Start.UTC().Format(time.RFC3339Nano)
	}
	if res := hr.Result; res != nil {
		j.Stdout, j.Stderr, j.Signal, j.Truncated = res.Stdout, res.Stderr, res.Signal, res.Truncated
		if res.ExitCode >= 0 {
			code := res.ExitCode
			j.ExitCode = &code
		}
	}
	if hr.Err != nil {
		e := hr.Err.Error()
		j.Error = &e
	}
	if tr != nil {
		j.Files, j.Bytes, j.Changed, j.Removed, j.Cut = &tr.Files, &tr.Bytes, tr.Changed, tr.Removed, tr.Cut
		j.Stdout, j.Stderr, j.ExitCode, j.Truncated = "", "", nil, false // the sudo helpers' output is not the user's
	}
	b, _ := json.Marshal(j)
	r.p.Line(false, "", b)
}

// progress is the text of the progress line.
func (r *report) progress() string {
	done, started, failed := r.n.done.Load(), r.n.started.Load(), r.n.failed.Load()
	el := time.Since(r.start)
	rate := float64(done) / el.Seconds()
	s := fmt.Sprintf("[%d/%d done, %d running, %d failed, %.0f/s", done, r.total, started-done, failed, rate)
	if rate > 0 && done < int64(r.total) {
		eta := time.Duration(float64(int64(r.total)-done) / rate * float64(time.Second))
		s += ", ETA " + eta.Round(time.Second).String()
	}
	return s + "]"
}

// finish prints gathered output and the summary and returns the exit
// status: 130 if interrupted (Ctrl-C); else 1 if a command failed on some
// host, or was interrupted by --fail-fast after another host failed; else
// 3 if some host was unreachable; else 0.
func (r *report) finish(rs *loom.Results, interrupted bool) int {
	if r.o.json {
		for _, hr := range rs.Hosts {
			if hr.Status == loom.StatusNotStarted {
				r.printJSON(hr, nil)
			}
		}
	}
	if r.o.gather {
		r.printGathered()
	}
	count := map[loom.Status]int{}
	for _, hr := range rs.Hosts {
		count[hr.Status]++
	}
	if r.single {
		hr := rs.Hosts[0]
		// Like ssh, a command's own failure is its output and exit status;
		// anything else (a file operation, a local step of a task, a
		// connection) is said.
		var ee *loom.ExitError
		if hr.Err != nil && !(r.sub == "run" && errors.As(hr.Err, &ee) && ee.Host == hr.Host) {
			r.p.Printf(true, "loom: %s\n", output.Sanitize([]byte(oneLine(hr.Err.Error()))))
		}
	} else {
		r.summary(rs, count)
	}
	r.logs.mu.Lock()
	logsLost, firstLost := r.logs.n, r.logs.first
	r.logs.mu.Unlock()
	if logsLost > 0 {
		r.p.Printf(true, "loom: --log-dir %s: the log of %d host%s is missing or incomplete (first: %s)\n", r.o.logDir, logsLost, plural(logsLost), firstLost)
	}
	if r.single && r.sub == "run" && !interrupted {
		// Like ssh, the exit status of a command on one host is loom's.
		var ee *loom.ExitError
		if hr := rs.Hosts[0]; errors.As(hr.Err, &ee) && ee.Host == hr.Host && ee.Code > 0 && ee.Code < 256 {
			return ee.Code
		}
	}
	switch {
	case interrupted:
		return ExitInterrupted
	case count[loom.StatusFailed] > 0 || count[loom.StatusInterrupted] > 0:
		// Hosts are interrupted without a Ctrl-C only by --fail-fast,
		// after a failure: that failure is the run's status.
		return ExitFailed
	case count[loom.StatusUnreachable] > 0:
		return ExitUnreachable
	case count[loom.StatusNotStarted] > 0, logsLost > 0:
		return ExitFailed
	}
	return ExitOK
}

// summary prints counts, then each kind of trouble with its hosts folded.
func (r *report) summary(rs *loom.Results, count map[loom.Status]int) {
	type group struct {
		status loom.Status
		reason string
		hosts  []string
		err    error
		cause  string // put, get, sync: the cause, the same for every host of the group
	}
	groups := map[string]*group{}
	var order []string
	for _, hr := range rs.Hosts {
		if hr.Status == loom.StatusOK {
			continue
		}
		cause := fileCause(hr)
		key := hr.Status.String() + "\x00" + hr.Reason() + "\x00" + cause
		g := groups[key]
		if g == nil {
			g = &group{status: hr.Status, reason: hr.Reason(), err: hr.Err, cause: cause}
			groups[key] = g
			order = append(order, key)
		}
		g.hosts = append(g.hosts, hr.Host)
	}
	for _, k := range order {
		g := groups[k]
		what := fmt.Sprintf("%s (%s)", g.status, g.reason)
		if g.reason == g.status.String() {
			what = g.reason
		}
		line := fmt.Sprintf("loom: %s: %s", what, hostlist.Fold(g.hosts))
		switch {
		case len(g.hosts) == 1 && g.err != nil:
			line += ": " + strings.TrimPrefix(oneLine(g.err.Error()), g.hosts[0]+": ")
		case g.cause != "":
			line += fmt.Sprintf(" (%d hosts): %s", len(g.hosts), g.cause)
		case g.err != nil && g.status == loom.StatusNotStarted:
			// Why the run stopped before them: the same for all of them.
			line += fmt.Sprintf(" (%d hosts): %s", len(g.hosts), strings.TrimPrefix(strings.TrimPrefix(oneLine(g.err.Error()), g.hosts[0]+": "), "not started: "))
		case g.err != nil && g.status != loom.StatusInterrupted:
			// The cause, with the command, for every kind of failure.
			line += fmt.Sprintf(" (%d hosts; first: %s)", len(g.hosts), oneLine(g.err.Error()))
		default:
			line += fmt.Sprintf(" (%d hosts)", len(g.hosts))
		}
		r.p.Printf(true, "%s\n", output.Sanitize([]byte(line)))
	}
	s := fmt.Sprintf("loom: %d hosts in %v: %d ok, %d failed, %d unreachable", len(rs.Hosts),
		time.Since(r.start).Round(10*time.Millisecond), count[loom.StatusOK], count[loom.StatusFailed], count[loom.StatusUnreachable])
	if n := count[loom.StatusInterrupted]; n > 0 {
		s += fmt.Sprintf(", %d interrupted", n)
	}
	if n := count[loom.StatusNotStarted]; n > 0 {
		s += fmt.Sprintf(", %d not started", n)
	}
	r.p.Printf(true, "%s\n", s)
	if hint := r.gatherHint(); hint != "" {
		r.p.Printf(true, "%s\n", hint)
	}
}

// gatherHint suggests --gather when many hosts printed the same output:
// at least 3, and at least half of them.
func (r *report) gatherHint() string {
	most := 0
	for _, n := range r.same {
		most = max(most, n)
	}
	if most < 3 || 2*most < r.total || r.o.hidden("stdout") && r.o.hidden("stderr") {
		return ""
	}
	return fmt.Sprintf("loom: %d of %d hosts printed the same output: --gather shows it once, under their names", most, r.total)
}

// printGathered prints each distinct output once under its folded hosts,
// biggest group first.
func (r *report) printGathered() {
	gs := make([]*gathered, 0, len(r.gather))
	for _, g := range r.gather {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool {
		if len(gs[i].hosts) != len(gs[j].hosts) {
			return len(gs[i].hosts) > len(gs[j].hosts)
		}
		return gs[i].hosts[0] < gs[j].hosts[0]
	})
	for _, g := range gs {
		head := fmt.Sprintf("%s (%d)", hostlist.Fold(g.hosts), len(g.hosts))
		if g.status != "ok" {
			head += " " + g.status
		}
		if g.cut {
			head += fmt.Sprintf(" (output cut at %d bytes a stream)", loom.DefaultMaxOutput)
		}
		bar := strings.Repeat("-", min(max(len(head), 15), 78))
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n%s\n%s\n", bar, head, bar)
		for _, ln := range strings.SplitAfter(g.stdout, "\n") {
			if ln != "" && !r.o.hidden("stdout") {
				b.Write(output.Sanitize([]byte(strings.TrimSuffix(ln, "\n"))))
				b.WriteByte('\n')
			}
		}
		for _, ln := range strings.SplitAfter(g.stderr, "\n") {
			if ln != "" && !r.o.hidden("stderr") {
				b.WriteString("! ")
				b.Write(output.Sanitize([]byte(strings.TrimSuffix(ln, "\n"))))
				b.WriteByte('\n')
			}
		}
		r.p.Write(false, []byte(b.String()))
	}
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Terminal colours for host prefixes.
const (
	reset = "\033[0m"
	dim   = "\033[2m"
	red   = "\033[31m"
)

var palette = []string{"\033[32m", "\033[33m", "\033[34m", "\033[35m", "\033[36m", "\033[92m", "\033[93m", "\033[94m", "\033[95m", "\033[96m"}

func hashName(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// rawWriter passes one host's output through unchanged (one-host runs).
type rawWriter struct {
	p     *output.Printer
	toErr bool
}

func (w rawWriter) Write(b []byte) (int, error) {
	w.p.Write(w.toErr, b)
	return len(b), nil
}

// lockedFile is a log file shared by a host's stdout and stderr. Its
// first write or close error is counted in logs.
type lockedFile struct {
	f      *os.File
	host   string
	logs   *logFailures
	once   bool
	failed bool
}

func (l *lockedFile) Write(b []byte) (int, error) {
	n, err := l.f.Write(b)
	if err != nil {
		l.fail(err)
	}
	return n, err
}

func (l *lockedFile) fail(err error) {
	if !l.failed {
		l.failed = true
		l.logs.lost(l.host, err)
	}
}

func (l *lockedFile) Close() error {
	if l.once {
		return nil
	}
	l.once = true
	err := l.f.Close()
	if err != nil {
		l.fail(err)
	}
	return err
}

// multi fans writes out to several writers; Close closes those that close.
func multi(ws []io.Writer) io.Writer {
	switch len(ws) {
	case 0:
		return nil
	case 1:
		return ws[0]
	}
	return multiWriter(ws)
}

type multiWriter []io.Writer

func (m multiWriter) Write(b []byte) (int, error) {
	for _, w := range m {
		w.Write(b)
	}
	return len(b), nil
}

func (m multiWriter) Close() error {
	for _, w := range m {
		if c, ok := w.(io.Closer); ok {
			c.Close()
		}
	}
	return nil
}
