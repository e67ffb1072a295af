// Package loomfile finds, reads and describes loomfiles: the Go files whose
// exported functions are the tasks that `loom TASK` runs. Everything here
// works on the source alone (go/parser, go/ast, go/doc); nothing is compiled,
// so listing tasks (`loom -l`) and a task's help (`loom -h TASK`) cost a parse.
//
// The steps, in the order the command line uses them:
//
//   - [Find] locates the files: a loomfiles/ directory (which may hold its own
//     go.mod) or the *.go files tagged //go:build loom in a directory, searched
//     from the working directory upward, or the file or directory of -f.
//   - [Parse] reads the tasks: exported functions taking *loom.Conn (host
//     tasks), context.Context or nothing (local tasks) first, then typed
//     arguments, returning nothing or an error; methods of namespace types
//     (type DB loom.Namespace); var Default and var Aliases.
//   - [Info.List] and [Info.Help] print the listing and one task's help.
//   - [Info.Resolve] maps a name typed on the command line to a task, and
//     [Bind] turns the words after it into typed argument values, returning
//     the words left for the next task.
//
// The conventions (names, argument syntax, several tasks in one call) are
// written down for users in docs/loomfiles.md; this package is their
// reference implementation. Errors are one line and name the file and line
// (or the task and parameter) they are about.
package loomfile
