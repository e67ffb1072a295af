// Command treemem samples the memory of a whole process tree: the sum of the
// proportional set size (PSS: each shared page split among the processes that
// share it) of PID and all its descendants, every -every, until PID exits.
// It then prints "peak_kb=K peak_procs=N samples=S".
//
//	treemem -every 200ms PID
//
// /usr/bin/time's maximum RSS is that of the single largest process, which
// says little about a tool that starts an ssh process per host (pdsh, pssh,
// clush, Ansible): race.sh reports both.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	every := flag.Duration("every", 200*time.Millisecond, "sampling interval")
	flag.Parse()
	root, err := strconv.Atoi(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "usage: treemem [-every D] PID")
		os.Exit(2)
	}
	var peak, peakProcs, samples int
	for {
		kb, n, alive := sample(root)
		if !alive {
			break
		}
		samples++
		if kb > peak {
			peak = kb
		}
		peakProcs = max(peakProcs, n)
		time.Sleep(*every)
	}
	fmt.Printf("peak_kb=%d peak_procs=%d samples=%d\n", peak, peakProcs, samples)
}

// sample returns the PSS sum in KB and the number of processes of root's tree.
func sample(root int) (kb, n int, alive bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, false
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
		if pid == root {
			alive = true
		}
	}
	if !alive {
		return 0, 0, false
	}
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		n++
		kb += pss(p)
		queue = append(queue, children[p]...)
	}
	return kb, n, true
}

func pss(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
