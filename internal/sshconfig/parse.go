package sshconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Kind says how a configuration file is treated, as ssh(1) treats its user
// and system files.
type Kind int

const (
	// UserConfig is a user's file (~/.ssh/config, or the file given with
	// -F): an Include with a relative path is looked up in ~/.ssh, and
	// "~" may be used.
	UserConfig Kind = iota
	// SystemConfig is the system-wide file (/etc/ssh/ssh_config): an
	// Include with a relative path is looked up in /etc/ssh, and "~" is
	// an error.
	SystemConfig
)

// File names one configuration file for Load.
type File struct {
	Path     string // the file to read
	Kind     Kind   // how relative Include paths and "~" are treated
	Optional bool   // when true, a missing file is skipped silently
}

// Files returns the configuration files ssh(1) would read. When
// configFile is set (ssh's -F), only that file is read and it must exist;
// "none" means no file at all. Otherwise the user's ~/.ssh/config is read
// first, then /etc/ssh/ssh_config, each skipped when missing. An empty
// home means the current user's home directory.
func Files(home, configFile string) []File {
	switch configFile {
	case "none":
		return nil
	case "":
		if home == "" {
			home = currentHome()
		}
		return []File{
			{Path: filepath.Join(home, ".ssh", "config"), Kind: UserConfig, Optional: true},
			{Path: SystemConfigFile, Kind: SystemConfig, Optional: true},
		}
	default:
		return []File{{Path: configFile, Kind: UserConfig}}
	}
}

// Config is a set of parsed configuration files, in the order they are
// consulted. It is immutable once loaded and safe for concurrent use.
type Config struct {
	files     []*cfile
	warnings  []string
	wantFinal bool // some Match line asks for a final pass
	execs     execCache
}

// Warnings returns notes about lines Loom parsed but ignored, e.g. a
// keyword it does not know (typically one from a newer OpenSSH, or a
// typo), each as "file:line: message". A keyword matched by an earlier
// IgnoreUnknown is not reported.
func (c *Config) Warnings() []string {
	return append([]string(nil), c.warnings...)
}

// Error is a configuration error with its place: a syntax error, an
// invalid value, or a value that cannot be expanded for a host.
type Error struct {
	File string // file name, or a description such as `command-line option "Port=x"`
	Line int    // 1-based line number; 0 when not in a file
	Msg  string // what is wrong, starting with the keyword when there is one
}

// Error formats the error as "file:line: message" on one line.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// maxIncludeDepth bounds nested Includes, as ssh(1) does.
const maxIncludeDepth = 16

// maxFiles bounds the number of files one Load reads, so that a tree of
// Includes cannot grow without limit.
const maxFiles = 4096

// maxFileSize bounds the size of one configuration file.
const maxFileSize = 4 << 20

// source is where a value came from.
type source struct {
	file string
	line int
}

func (s source) String() string {
	if s.line > 0 {
		return fmt.Sprintf("%s:%d", s.file, s.line)
	}
	return s.file
}

func (s source) errorf(format string, a ...any) *Error {
	return &Error{File: s.file, Line: s.line, Msg: fmt.Sprintf(format, a...)}
}

// cfile is one parsed file.
type cfile struct {
	name  string
	lines []*line
}

// line is one significant configuration line.
type line struct {
	src  source
	kw   *keyword // nil for a keyword Loom does not know (ignored)
	args []string
	val  any // the value parse returned

	hosts []string    // Host: the patterns
	crit  []criterion // Match: the criteria
	incl  []*cfile    // Include: the files read, in order
}

// criterion is one Match criterion.
type criterion struct {
	name   string // lower case: all, canonical, final, host, user, ...
	negate bool
	arg    string
}

// fileSystem is what the loader reads; tests and fuzzing swap it.
type fileSystem interface {
	// Glob returns the names matching pattern, sorted.
	Glob(pattern string) ([]string, error)
	// ReadFile returns the contents of a file; requireRegular refuses
	// anything but a regular file (used for Includes).
	ReadFile(name string, requireRegular bool) ([]byte, error)
}

// loader parses files and their Includes.
type loader struct {
	home     string
	sysDir   string
	fs       fileSystem
	nfiles   int
	warnings []string
	ignore   []string // IgnoreUnknown pattern lists seen so far
	final    bool
}

func newLoader(home string) *loader {
	if home == "" {
		home = currentHome()
	}
	return &loader{home: home, sysDir: systemDir, fs: osFS{}}
}

// Load parses the given files in order; the first file's values take
// precedence, as ssh(1) consults ~/.ssh/config before /etc/ssh/ssh_config.
// A missing file is an error unless it is Optional. home is the directory
// that "~" and relative user Includes refer to; empty means the current
// user's home directory. Errors are one line and name file:line.
func Load(home string, files ...File) (*Config, error) {
	l := newLoader(home)
	return l.load(files)
}

// Parse parses one configuration file read from r, treated as a user file
// named name (for messages). Include directives are followed on the local
// file system, relative to the current user's ~/.ssh.
func Parse(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: file too large (over %d bytes)", name, maxFileSize)
	}
	l := newLoader("")
	f, err := l.parseFile(data, name, UserConfig, 0)
	if err != nil {
		return nil, err
	}
	return &Config{files: []*cfile{f}, warnings: l.warnings, wantFinal: l.final}, nil
}

func (l *loader) load(files []File) (*Config, error) {
	c := &Config{}
	for _, f := range files {
		data, err := l.fs.ReadFile(f.Path, false)
		if err != nil {
			if f.Optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read ssh config: %v", err)
		}
		l.nfiles++
		pf, err := l.parseFile(data, f.Path, f.Kind, 0)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, pf)
	}
	c.warnings = l.warnings
	c.wantFinal = l.final
	return c, nil
}

// parseFile parses the contents of one file.
func (l *loader) parseFile(data []byte, name string, kind Kind, depth int) (*cfile, error) {
	f := &cfile{name: name}
	num := 0
	for len(data) > 0 {
		num++
		var text []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			text, data = data, nil
		}
		ln, err := l.parseLine(string(text), source{name, num}, kind, depth)
		if err != nil {
			return nil, err
		}
		if ln != nil {
			f.lines = append(f.lines, ln)
		}
	}
	return f, nil
}

// splitKeyword separates the keyword from its arguments: the keyword ends
// at whitespace or '=', and one '=' with whitespace around it may separate
// it from the arguments. It returns "" for a blank or comment line.
func splitKeyword(text string) (kw, rest string) {
	s := strings.TrimRight(text, " \t\r\n\f")
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" || s[0] == '#' {
		return "", ""
	}
	i := strings.IndexAny(s, " \t\r\n=")
	if i < 0 {
		return s, ""
	}
	kw, rest = s[:i], strings.TrimLeft(s[i:], " \t\r\n")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
	}
	return kw, rest
}

// splitArgs splits arguments the way ssh(1) does: separated by spaces or
// tabs; double or single quotes group text containing spaces (and may
// appear inside a word); a backslash escapes a quote, a backslash, or (out
// of quotes) a space; a '#' at the start of a word starts a comment.
func splitArgs(s string) ([]string, error) {
	var args []string
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		if c == '#' {
			break
		}
		var b strings.Builder
		var quote byte
		for ; i < len(s); i++ {
			c = s[i]
			if c == '\\' && i+1 < len(s) {
				n := s[i+1]
				if n == '\'' || n == '"' || n == '\\' || (quote == 0 && n == ' ') {
					b.WriteByte(n)
					i++
					continue
				}
				b.WriteByte(c)
				continue
			}
			if quote == 0 && (c == ' ' || c == '\t') {
				break
			}
			if quote == 0 && (c == '"' || c == '\'') {
				quote = c
				continue
			}
			if quote != 0 && c == quote {
				quote = 0
				continue
			}
			b.WriteByte(c)
		}
		if quote != 0 {
			return nil, fmt.Errorf("unbalanced quotes")
		}
		args = append(args, b.String())
	}
	return args, nil
}

// parseLine parses one line of a file (depth >= 0) or one command-line
// option (depth < 0). It returns nil for blank and comment lines.
func (l *loader) parseLine(text string, src source, kind Kind, depth int) (*line, error) {
	cmdline := depth < 0
	name, rest := splitKeyword(text)
	if name == "" {
		if cmdline {
			return nil, src.errorf("empty option")
		}
		return nil, nil
	}
	args, err := splitArgs(rest)
	if err != nil {
		return nil, src.errorf("%s: %v", name, err)
	}
	kw := lookupKeyword(name)
	if kw == nil {
		if cmdline {
			return nil, src.errorf("unknown option %q", name)
		}
		if !l.ignored(name) {
			l.warnings = append(l.warnings, fmt.Sprintf("%s: unknown keyword %q ignored", src, name))
		}
		return nil, nil
	}
	ln := &line{src: src, kw: kw, args: args}
	switch kw.name {
	case "Host":
		if cmdline {
			return nil, src.errorf("Host is not allowed as a command-line option")
		}
		if len(args) == 0 {
			return nil, src.errorf("Host: missing pattern")
		}
		for _, a := range args {
			if a == "" || a == "!" {
				return nil, src.errorf("Host: empty pattern")
			}
		}
		ln.hosts = args
	case "Match":
		if cmdline {
			return nil, src.errorf("Match is not allowed as a command-line option")
		}
		crit, err := parseCriteria(args)
		if err != nil {
			return nil, src.errorf("Match: %v", err)
		}
		for _, c := range crit {
			// As in ssh(1), "!final" asks for the final pass too.
			if c.name == "final" {
				l.final = true
			}
		}
		ln.crit = crit
	case "Include":
		if cmdline {
			return nil, src.errorf("Include is not allowed as a command-line option")
		}
		if err := l.include(ln, kind, depth); err != nil {
			return nil, err
		}
	default:
		v, err := kw.parse(args, rest)
		if err != nil {
			return nil, src.errorf("%s: %v", kw.name, err)
		}
		ln.val = v
		if kw.name == "IgnoreUnknown" {
			l.ignore = append(l.ignore, v.(string))
		}
	}
	return ln, nil
}

// ignored reports whether an IgnoreUnknown seen so far covers name.
func (l *loader) ignored(name string) bool {
	for _, p := range l.ignore {
		if matchList(strings.ToLower(name), p, true) {
			return true
		}
	}
	return false
}

// parseCriteria parses the arguments of a Match line.
func parseCriteria(args []string) ([]criterion, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("missing criteria")
	}
	var out []criterion
	for i := 0; i < len(args); i++ {
		a := args[i]
		// ssh(1) also splits at one '=': "host=web1", "host= web1".
		if name, val, ok := strings.Cut(a, "="); ok && name != "" {
			a = name
			if val != "" {
				args = slices.Insert(slices.Clone(args), i+1, val)
			}
		}
		c := criterion{}
		if strings.HasPrefix(a, "!") {
			c.negate = true
			a = a[1:]
		}
		c.name = strings.ToLower(a)
		switch c.name {
		case "all":
			// As in ssh(1): "all" ends the line and follows at most
			// one criterion (normally canonical or final).
			if len(out) > 1 || i != len(args)-1 {
				return nil, fmt.Errorf("'all' cannot be combined with other criteria")
			}
		case "canonical", "final":
		case "host", "originalhost", "user", "localuser", "exec",
			"tagged", "localnetwork", "version", "sessiontype", "command":
			if i+1 >= len(args) || args[i+1] == "" {
				return nil, fmt.Errorf("criterion %q needs an argument", a)
			}
			i++
			c.arg = args[i]
		default:
			return nil, fmt.Errorf("unknown criterion %q", a)
		}
		out = append(out, c)
	}
	return out, nil
}

// include reads the files an Include line names, in order.
func (l *loader) include(ln *line, kind Kind, depth int) error {
	src := ln.src
	if len(ln.args) == 0 {
		return src.errorf("Include: missing argument")
	}
	for _, a := range ln.args {
		if a == "" {
			return src.errorf("Include: empty argument")
		}
		pattern := a
		switch {
		case strings.HasPrefix(a, "~"):
			if kind != UserConfig {
				return src.errorf("Include: %q: '~' is not allowed in a system configuration file", a)
			}
			p, err := expandTilde(a, l.home, lookupHome)
			if err != nil {
				return src.errorf("Include: %v", err)
			}
			pattern = p
		case !filepath.IsAbs(a):
			base := l.sysDir
			if kind == UserConfig {
				base = filepath.Join(l.home, ".ssh")
			}
			pattern = filepath.Join(base, a)
		}
		names, err := l.fs.Glob(pattern)
		if err != nil {
			return src.errorf("Include: %q: %v", a, err)
		}
		for _, name := range names {
			if depth+1 > maxIncludeDepth {
				return src.errorf("Include: %q: too many nested Includes (limit %d)", a, maxIncludeDepth)
			}
			if l.nfiles++; l.nfiles > maxFiles {
				return src.errorf("Include: %q: too many files (limit %d)", a, maxFiles)
			}
			data, err := l.fs.ReadFile(name, true)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errIsDir) {
					// Vanished since the glob, or a directory (which
					// ssh(1) reads as an empty file).
					continue
				}
				return src.errorf("Include: %v", err)
			}
			f, err := l.parseFile(data, name, kind, depth+1)
			if err != nil {
				return err
			}
			ln.incl = append(ln.incl, f)
		}
	}
	return nil
}

// errIsDir reports a directory where a file was expected.
var errIsDir = errors.New("is a directory")

// osFS reads the local file system.
type osFS struct{}

func (osFS) Glob(pattern string) ([]string, error) {
	names, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	names = dropHidden(pattern, names)
	sort.Strings(names)
	return names, nil
}

func (osFS) ReadFile(name string, requireRegular bool) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: %w", name, errIsDir)
	}
	if requireRegular && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: file too large (over %d bytes)", name, maxFileSize)
	}
	return data, nil
}

// dropHidden removes the names glob(3) would not return: in glob(7) a
// wildcard does not match a leading '.', while filepath.Glob's does.
func dropHidden(pattern string, names []string) []string {
	pp := strings.Split(filepath.Clean(pattern), string(filepath.Separator))
	out := names[:0]
	for _, n := range names {
		np := strings.Split(filepath.Clean(n), string(filepath.Separator))
		keep := true
		for i := 0; len(np) == len(pp) && keep && i < len(np); i++ {
			if strings.HasPrefix(np[i], ".") && !strings.HasPrefix(pp[i], ".") && strings.ContainsAny(pp[i], `*?[\`) {
				keep = false
			}
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}
