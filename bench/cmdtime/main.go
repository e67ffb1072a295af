// Command cmdtime times commands side by side: each round runs every
// command once, in an order that rotates from round to round, so the noise
// of a shared machine hits all of them alike. It prints, for each command,
// the median wall time, the 10th and 90th percentiles, the fastest run and
// the median CPU (user+sys of the process and the children it waited for).
// -diff A:B also reports A's difference from B paired by round (the median,
// p10 and p90 of the per-round differences A−B) and the ratio of the two
// medians.
//
//	cmdtime [-n 30] [-warmup 1] [-dir DIR] [-diff A:B]... [-tsv FILE] \
//	    LABEL CMD [ARG...] ::: LABEL CMD [ARG...] ...
//
// Commands run without a shell, with stdout discarded and stdin empty, in
// cmdtime's environment; a run that exits non-zero stops cmdtime with its
// stderr (unless -allow-fail). -tsv appends tab-separated lines, times in
// ms: "time LABEL RUNS MEDIAN P10 P90 MIN CPU" for each command and
// "diff A-B RUNS MEDIAN P10 P90 RATIO" for each -diff.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

type command struct {
	label string
	argv  []string
	wall  []time.Duration // by round
	cpu   []time.Duration
}

func main() {
	n := flag.Int("n", 30, "timed runs of each command")
	warmup := flag.Int("warmup", 1, "untimed runs of each command first")
	dir := flag.String("dir", "", "working directory of the commands")
	var diffs []string
	flag.Func("diff", "also report `A:B`, command A's paired difference from command B (repeatable)", func(v string) error {
		diffs = append(diffs, v)
		return nil
	})
	tsv := flag.String("tsv", "", "append the results to this file, tab-separated")
	allowFail := flag.Bool("allow-fail", false, "time runs that exit non-zero too")
	verbose := flag.Bool("v", false, "print every run")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cmdtime [flags] LABEL CMD [ARG...] ::: LABEL CMD [ARG...] ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	cmds, err := parseCommands(flag.Args())
	if err != nil || *n < 1 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "cmdtime:", err)
		}
		flag.Usage()
		os.Exit(2)
	}
	byLabel := map[string]*command{}
	for _, c := range cmds {
		byLabel[c.label] = c
	}
	var pairs [][2]*command
	for _, d := range diffs {
		a, b, ok := strings.Cut(d, ":")
		if !ok || byLabel[a] == nil || byLabel[b] == nil {
			fatalf("-diff %s: want A:B, two labels of the commands", d)
		}
		pairs = append(pairs, [2]*command{byLabel[a], byLabel[b]})
	}
	for _, c := range cmds {
		path, err := exec.LookPath(c.argv[0])
		if err != nil {
			fatalf("%s: %v", c.label, err)
		}
		c.argv[0] = path
	}
	for range *warmup {
		for _, c := range cmds {
			run(c, *dir, *allowFail)
		}
	}
	for r := range *n {
		for i := range cmds {
			c := cmds[(r+i)%len(cmds)]
			wall, cpu := run(c, *dir, *allowFail)
			c.wall = append(c.wall, wall)
			c.cpu = append(c.cpu, cpu)
			if *verbose {
				fmt.Fprintf(os.Stderr, "round %d %s %.2f ms (cpu %.2f ms)\n", r+1, c.label, ms(wall), ms(cpu))
			}
		}
	}
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.label))
	}
	var out bytes.Buffer
	for _, c := range cmds {
		w, cpu := stats(c.wall), stats(c.cpu)
		fmt.Printf("%-*s  n=%d  median %8.2f ms  p10 %8.2f  p90 %8.2f  min %8.2f  cpu %8.2f ms\n",
			width, c.label, len(c.wall), ms(w.median), ms(w.p10), ms(w.p90), ms(w.min), ms(cpu.median))
		fmt.Fprintf(&out, "time\t%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", c.label, len(c.wall), ms(w.median), ms(w.p10), ms(w.p90), ms(w.min), ms(cpu.median))
	}
	for _, p := range pairs {
		a, b := p[0], p[1]
		diff := make([]time.Duration, len(a.wall))
		for i := range diff {
			diff[i] = a.wall[i] - b.wall[i]
		}
		d := stats(diff)
		ratio := float64(stats(a.wall).median) / float64(stats(b.wall).median)
		fmt.Printf("%s − %s, paired by round: median %+.2f ms  p10 %+.2f  p90 %+.2f  ratio of medians %.2f×\n",
			a.label, b.label, ms(d.median), ms(d.p10), ms(d.p90), ratio)
		fmt.Fprintf(&out, "diff\t%s-%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", a.label, b.label, len(diff), ms(d.median), ms(d.p10), ms(d.p90), ratio)
	}
	if *tsv != "" {
		f, err := os.OpenFile(*tsv, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fatalf("%v", err)
		}
		if _, err := f.Write(out.Bytes()); err != nil {
			fatalf("%v", err)
		}
		if err := f.Close(); err != nil {
			fatalf("%v", err)
		}
	}
}

// parseCommands splits LABEL CMD [ARG...] ::: LABEL CMD ... into commands.
func parseCommands(args []string) ([]*command, error) {
	var cmds []*command
	for len(args) > 0 {
		i := slices.Index(args, ":::")
		if i < 0 {
			i = len(args)
		}
		group := args[:i]
		if len(group) < 2 {
			return nil, fmt.Errorf("each command is LABEL CMD [ARG...] (got %q)", strings.Join(group, " "))
		}
		cmds = append(cmds, &command{label: group[0], argv: slices.Clone(group[1:])})
		args = args[min(i+1, len(args)):]
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("no commands")
	}
	return cmds, nil
}

// run runs c once and returns its wall time and CPU time.
func run(c *command, dir string, allowFail bool) (wall, cpu time.Duration) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // stdin and stdout: the null device
	start := time.Now()
	err := cmd.Run()
	wall = time.Since(start)
	if err != nil && !allowFail {
		fatalf("%s: %s: %v\n%s", c.label, strings.Join(c.argv, " "), err, stderr.String())
	}
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return wall, cpu
}

type summary struct{ median, p10, p90, min time.Duration }

// stats summarises xs: the median, and the 10th and 90th percentiles by
// linear interpolation between the nearest ranks.
func stats(xs []time.Duration) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		pos := p * float64(len(s)-1)
		i := int(pos)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + time.Duration((pos-float64(i))*float64(s[i+1]-s[i]))
	}
	return summary{median: q(0.5), p10: q(0.1), p90: q(0.9), min: s[0]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "cmdtime: "+format+"\n", a...)
	os.Exit(1)
}
