// Package lineout is the standard output of the examples that print lines
// from several goroutines (the "listening" line, then a line per event or
// per socket): whole lines that never interleave, and the first write
// error kept for the shutdown to report.
package lineout

import (
	"io"
	"net"
	"sync"

	"github.com/sockactor/sockactor/winsock"
)

// Writer serializes whole lines onto an io.Writer. It keeps the first
// write error and writes nothing after it. Safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// New returns a Writer onto w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// WriteLine writes line and "\n" with one Write call. It may append to
// line's backing array.
func (lw *Writer) WriteLine(line []byte) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return lw.err
	}
	_, lw.err = lw.w.Write(append(line, '\n'))
	return lw.err
}

// Err returns the first write error.
func (lw *Writer) Err() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.err
}

// Listening writes "listening <addr>", an example's first line, and
// returns addr as a string. A nil addr (a listener without an address
// after Start) is a WSAENOTCONN error.
func (lw *Writer) Listening(addr net.Addr) (string, error) {
	if addr == nil {
		return "", &winsock.OpError{Op: "Listen", Code: winsock.WSAENOTCONN, Detail: "listener has no address"}
	}
	a := addr.String()
	return a, lw.WriteLine([]byte("listening " + a))
}

// Line writes s and "\n" with one Write call; a write error is kept for
// Err.
func (lw *Writer) Line(s string) { _ = lw.WriteLine([]byte(s)) }
