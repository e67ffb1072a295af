package cli

// Shell completion: loom completion bash|zsh|fish prints a script that
// asks the loom command itself (loom __complete --line LINE) for the
// words that may follow: flags, subcommands, tasks and their arguments
// (read from the loomfile without compiling it), roles, and hosts from
// the inventory and ssh_config's Host lines.

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/loomssh/loom/internal/inventory"
	"github.com/loomssh/loom/internal/loomfile"
)

// filesMarker asks the shell to complete file names instead.
const filesMarker = "__files__"

// completionMain is "loom completion SHELL" and "loom __complete".
func completionMain(args []string, env Env, prog *program, name string) int {
	if args[0] == "__complete" {
		if len(args) != 3 || args[1] != "--line" {
			fmt.Fprintf(env.Stderr, "%s: __complete --line LINE (used by the completion scripts)\n", name)
			return ExitUsage
		}
		for _, c := range complete(args[2], prog) {
			fmt.Fprintln(env.Stdout, c)
		}
		return ExitOK
	}
	if len(args) != 2 {
		fmt.Fprintf(env.Stderr, "%s: completion takes a shell: bash, zsh or fish (e.g. source <(%s completion bash))\n", name, name)
		return ExitUsage
	}
	script, ok := completionScripts[args[1]]
	if !ok {
		fmt.Fprintf(env.Stderr, "%s: completion %s: want bash, zsh or fish\n", name, args[1])
		return ExitUsage
	}
	fn := "_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	io.WriteString(env.Stdout, strings.NewReplacer("PROG", name, "FUNC", fn).Replace(script))
	return ExitOK
}

var completionScripts = map[string]string{
	"bash": `# bash completion for PROG: source <(PROG completion bash)
FUNC() {
	local cur="${COMP_WORDS[COMP_CWORD]}" line="${COMP_LINE:0:COMP_POINT}"
	local word="${line##*[[:space:]]}" IFS=$'\n'
	local -a cands
	cands=($(PROG __complete --line "$line" 2>/dev/null))
	if [[ "${cands[0]}" == __files__ ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	# bash splits words at : and =; the candidates are whole words.
	local pre="${word%"$cur"}"
	COMPREPLY=("${cands[@]#"$pre"}")
	if [[ ${#cands[@]} -eq 1 && "${cands[0]}" == *= ]]; then
		compopt -o nospace 2>/dev/null
	fi
}
complete -o default -F FUNC PROG
`,
	"zsh": `#compdef PROG
# zsh completion for PROG: source <(PROG completion zsh), after compinit
FUNC() {
	local -a cands
	cands=("${(@f)$(PROG __complete --line "$LBUFFER" 2>/dev/null)}")
	if [[ "${cands[1]}" == __files__ ]]; then
		_files
		return
	fi
	local -a words eqs
	local c
	for c in "${cands[@]}"; do
		[[ -z "$c" ]] && continue
		if [[ "$c" == *= ]]; then eqs+=("$c"); else words+=("$c"); fi
	done
	(( ${#words} )) && compadd -Q -- "${words[@]}"
	(( ${#eqs} )) && compadd -Q -S '' -- "${eqs[@]}"
	return 0
}
if (( $+functions[compdef] )); then
	compdef FUNC PROG
fi
`,
	"fish": `# fish completion for PROG: PROG completion fish | source
function FUNC
	set -l cands (PROG __complete --line (commandline -cp) 2>/dev/null)
	if test "$cands[1]" = __files__
		__fish_complete_path (commandline -ct)
	else
		printf '%s\n' $cands
	end
end
complete -c PROG -f -a '(FUNC)'
`,
}

// complete returns the words that may replace the last word of line (a
// command line up to the cursor), or filesMarker for a file name.
func complete(line string, prog *program) []string {
	words := strings.Fields(line)
	cur := ""
	if len(words) > 0 && !strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\t") {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	if len(words) > 0 {
		words = words[1:] // the program's name
	}
	o := &options{hosts: listFlag{comma: true}, roles: listFlag{comma: true}}
	t := newFlags(o)
	var sub string
	var positional []string
	pending := "" // a flag whose value cur or the next word is
	command := false
	for _, w := range words {
		switch {
		case pending != "":
			if pending == "f" || pending == "I" || pending == "F" {
				t.fs.Set(pending, w)
			}
			pending = ""
		case command:
		case w == "--":
			command = true
		case strings.HasPrefix(w, "-") && len(positional) == 0 || strings.HasPrefix(w, "-") && sub != "" && len(positional) == 1:
			pending = valueFlag(t, w)
		default:
			if sub == "" && len(positional) == 0 && (subcommandNames[w] || w == "completion") {
				sub = w
				positional = append(positional, w)
				continue
			}
			positional = append(positional, w)
		}
	}
	var out []string
	add := func(cands ...string) {
		for _, c := range cands {
			if strings.HasPrefix(c, cur) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	switch {
	case command:
		return nil
	case pending != "":
		return flagValues(o, pending, "", cur)
	case strings.HasPrefix(cur, "--") && strings.Contains(cur, "="):
		name, _, _ := strings.Cut(strings.TrimPrefix(cur, "--"), "=")
		if f := t.lookup(name); f != nil && (len(positional) == 0 || sub != "") {
			return flagValues(o, f.Name, "--"+name+"=", strings.SplitN(cur, "=", 2)[1])
		}
		return taskArgs(o, prog, positional, cur)
	case strings.HasPrefix(cur, "-") && (len(positional) == 0 || sub != "" && len(positional) == 1):
		var names []string
		t.fs.VisitAll(func(f *flag.Flag) {
			names = append(names, spell(f.Name))
			if other, ok := t.other[f.Name]; ok {
				names = append(names, spell(other))
			}
		})
		sort.Strings(names)
		add(names...)
		add("--")
		return out
	case strings.HasPrefix(cur, "-"):
		return taskArgs(o, prog, positional, cur)
	}
	switch sub {
	case "ssh":
		if len(positional) == 1 {
			add(hostNamesFor(o)...)
		}
		return out
	case "put", "get", "sync":
		return []string{filesMarker}
	case "last", "completion":
		if sub == "completion" && len(positional) == 1 {
			add("bash", "zsh", "fish")
		}
		return out
	case "help":
		add(taskNames(o, prog)...)
		return out
	}
	if len(positional) == 0 {
		var subs []string
		for s := range subcommandNames {
			subs = append(subs, s)
		}
		sort.Strings(subs)
		add(subs...)
		add("completion")
	}
	add(taskNames(o, prog)...)
	return out
}

// valueFlag returns the name of the flag w leaves waiting for its value
// in the next word ("H" for -H or --hosts, "H" for -tH), or "".
func valueFlag(t *flagTable, w string) string {
	body := strings.TrimLeft(w, "-")
	if strings.Contains(body, "=") {
		return ""
	}
	if f := t.lookup(body); f != nil {
		if isBool(f) {
			return ""
		}
		return f.Name
	}
	if strings.HasPrefix(w, "--") || len(body) < 2 {
		return ""
	}
	// Combined one-letter flags: the last may take the next word.
	for i := 0; i < len(body); i++ {
		f := t.lookup(body[i : i+1])
		if f == nil {
			return ""
		}
		if !isBool(f) {
			if i == len(body)-1 {
				return f.Name
			}
			return "" // its value is joined: -p22
		}
	}
	return ""
}

// flagValues completes the value of flag name (prefix is what stands
// before the value in the word: "--hosts=").
func flagValues(o *options, name, prefix, cur string) []string {
	var cands []string
	switch name {
	case "H", "x":
		cands = append(hostNamesFor(o), "@failed", "@unreachable", "@last")
	case "R":
		// The last atom of an expression: web&sta, web,!d.
		i := strings.LastIndexAny(cur, ",&!")
		head := cur[:i+1]
		for _, r := range roleNamesFor(o) {
			cands = append(cands, head+r)
		}
		cur = cur[i+1:]
		for j := range cands {
			cands[j] = prefix + cands[j]
		}
		var out []string
		for _, c := range cands {
			if strings.HasPrefix(c, prefix+head+cur) {
				out = append(out, c)
			}
		}
		return out
	case "f", "I", "F", "i", "log-dir", "compile":
		return []string{filesMarker}
	case "hide", "show":
		cands = []string{"stdout", "stderr", "echo"}
	default:
		return nil
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			out = append(out, prefix+c)
		}
	}
	return out
}

// loomfileInfo is the loomfile's tasks, read without compiling: the
// compiled program's own, or the loomfile found from the working
// directory (or -f).
func loomfileInfo(o *options, prog *program) *loomfile.Info {
	if prog != nil {
		return prog.info
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	p, err := loomfile.Find(wd, o.taskFile)
	if err != nil {
		return nil
	}
	info, err := loomfile.Parse(p)
	if err != nil {
		return nil
	}
	return info
}

func taskNames(o *options, prog *program) []string {
	info := loomfileInfo(o, prog)
	if info == nil {
		return nil
	}
	var names []string
	for _, t := range info.Tasks {
		names = append(names, t.Name)
	}
	for a := range info.Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	return names
}

// taskArgs completes the named arguments of the last task named.
func taskArgs(o *options, prog *program, positional []string, cur string) []string {
	info := loomfileInfo(o, prog)
	if info == nil {
		return nil
	}
	for i := len(positional) - 1; i >= 0; i-- {
		t, err := info.Resolve(positional[i])
		if err != nil {
			continue
		}
		var out []string
		for j := range t.Params {
			p := &t.Params[j]
			if p.Variadic {
				continue
			}
			if c := p.Flag() + "="; strings.HasPrefix(c, cur) {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

// inventoryFor parses the inventory the command would use (-I, or found
// upward), without running its dynamic commands; nil when there is none.
func inventoryFor(o *options) *inventory.Inventory {
	path := o.inventory
	if path == "none" {
		return nil
	}
	if path == "" {
		wd, _ := os.Getwd()
		var err error
		if path, err = inventory.Find(wd); err != nil || path == "" {
			return nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	inv, _ := inventory.Parse(data, path)
	return inv
}

func roleNamesFor(o *options) []string {
	return append(inventoryFor(o).Roles(), inventory.AllRole)
}

// hostNamesFor lists the inventory's hosts, then ssh_config's Host names
// that are not patterns.
func hostNamesFor(o *options) []string {
	var names []string
	for _, h := range inventoryFor(o).Hosts() {
		names = append(names, h.Name)
	}
	cfg := o.configFile
	if cfg == "" {
		home, _ := os.UserHomeDir()
		cfg = filepath.Join(home, ".ssh", "config")
	}
	if cfg != "none" {
		names = append(names, sshConfigHosts(cfg)...)
	}
	return names
}

// sshConfigHosts returns the names of a ssh_config file's Host lines
// that are no patterns (no *, ? or !). Include is not followed.
func sshConfigHosts(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.ReplaceAll(sc.Text(), "=", " "))
		if len(fields) < 2 || !strings.EqualFold(fields[0], "Host") {
			continue
		}
		for _, n := range fields[1:] {
			if strings.HasPrefix(n, "#") {
				break
			}
			if !strings.ContainsAny(n, "*?!") {
				names = append(names, strings.Trim(n, `"`))
			}
		}
	}
	return names
}
