package holder

import (
	"os"
	"path/filepath"
	"sync"
)

// maxLog bounds the holder's log: once holder.log passes it, it becomes
// holder.log.1 (replacing the one before) and a new holder.log starts, so
// a holder that runs for weeks keeps at most twice this much log.
var maxLog int64 = 1 << 20

// oldLogName is where the log before the current one is kept.
const oldLogName = LogName + ".1"

// logFile is the holder's log in dir, rotated at maxLog. Its writes are
// whole lines (a log.Logger's), so a line is never split across files.
type logFile struct {
	mu   sync.Mutex
	dir  string
	f    *os.File
	size int64
	// stderr: the process's standard error follows the log when it
	// rotates (the holder's own log, where a crash is written).
	stderr bool
}

// openLog opens dir's log for appending, rotating it first when it is
// already past maxLog.
func openLog(dir string) (*logFile, error) {
	l := &logFile{dir: dir}
	if err := l.open(); err != nil {
		return nil, err
	}
	if l.size >= maxLog {
		if err := l.rotate(); err != nil {
			l.f.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(filepath.Join(l.dir, LogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// rotate moves the log to holder.log.1 and opens a new one.
func (l *logFile) rotate() error {
	if err := os.Rename(filepath.Join(l.dir, LogName), filepath.Join(l.dir, oldLogName)); err != nil {
		return err
	}
	old := l.f
	if err := l.open(); err != nil {
		l.f = old
		return err
	}
	old.Close()
	if l.stderr {
		redirectStderr(l.f)
	}
	return nil
}

// Write appends b, rotating first when b would take the log past maxLog.
// A failed rotation keeps writing to the current file.
func (l *logFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(b)) > maxLog {
		l.rotate()
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	return n, err
}

// Close closes the current file.
func (l *logFile) Close() error { return l.f.Close() }
