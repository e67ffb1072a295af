//go:build !unix

package trust

import "io/fs"

// problem: without Unix owners and modes there is nothing checked here. On
// Windows NTFS ACLs decide who may write a file, and Loom does not read
// them: what is found is trusted (SECURITY.md and docs/platforms.md say
// so).
func problem(fs.FileInfo, bool, bool) string { return "" }
