// Package localpath expands the local path template of a Get
// ("logs/{host}/{basename}"), for the library and for the CLI, which checks
// before a run that no two hosts would write the same local file.
package localpath

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// HostElem returns a host's name as one path element for {host}. Every
// name gives an element of its own that stays inside its directory: "%",
// "/", "\" and control characters are percent-encoded ("a/b" gives
// "a%2Fb"), and so are "." and ".." whole ("%2E", "%2E%2E"). Names made of
// letters, digits, dots, dashes, "@", ":" and "_" are left as they are.
func HostElem(name string) string {
	switch name {
	case "":
		return "%" // no name: a lone "%" is no other name's encoding
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '%' || c == '/' || c == '\\' || c < ' ' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Expand replaces the placeholders of tmpl for the host named host and the
// absolute remote path remote:
//
//	{host}      HostElem(host)
//	{basename}  the last element of remote
//	{dirname}   remote's directory, without the leading slash
//	{path}      remote, without the leading slash
//
// The result is in the local form (filepath.FromSlash), not cleaned, so a
// trailing separator still shows.
func Expand(tmpl, host, remote string) string {
	out := strings.NewReplacer(
		"{host}", HostElem(host),
		"{basename}", path.Base(remote),
		"{dirname}", strings.TrimPrefix(path.Dir(remote), "/"),
		"{path}", strings.TrimPrefix(remote, "/"),
	).Replace(tmpl)
	return filepath.FromSlash(out)
}

// Shared reports whether tmpl gives hosts a and b the same local path for
// the same remote path: it does when tmpl has no {host}, or when the
// template's own ".." elements cancel it.
func Shared(tmpl, a, b string) bool {
	const remote = "/r/x" // any absolute path: it is the same for both hosts
	return filepath.Clean(Expand(tmpl, a, remote)) == filepath.Clean(Expand(tmpl, b, remote))
}
