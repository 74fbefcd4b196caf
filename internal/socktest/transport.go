package socktest

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// The transport axis of the socket tests: the same test body over TCP on
// loopback and over unix domain stream sockets (docs/SEMANTICS.md §6).

// Conn is a test client's connection: TCP or unix, both half-closable.
type Conn interface {
	net.Conn
	// CloseWrite shuts the sending side down (FIN; EOF at the peer).
	CloseWrite() error
}

// Transport is one stream transport a socket test runs over. Its methods
// are for the test's goroutine (they call tb.Fatal).
type Transport struct {
	// Name names the subtest: "tcp" or "unix".
	Name string
	// Listen returns a fresh address to Listen on ("tcp://127.0.0.1:0", or
	// "unix://" and a socket path in a temporary directory removed when the
	// test ends).
	Listen func(tb testing.TB) string
	// URL turns a listener's bound address (Listener.Addr().String(): a
	// host:port or a path) into the address to Dial.
	URL func(addr string) string
	// Dial connects a client to a bound address and closes it when the test
	// ends. A unix client binds a unique abstract name first, so that the
	// server sees a distinct remote address per client (as for TCP) and
	// Recorder.AcceptedFor works the same.
	Dial func(tb testing.TB, addr string) Conn
	// Resets says whether an abortive close (SO_LINGER 0) is seen by the
	// peer as a reset. True for TCP (RST); false for unix, where there is
	// no RST: the peer reads what the kernel had queued, then EOF (or
	// ECONNRESET when the closing side left bytes unread).
	Resets bool
}

// String returns the name, so a Transport names a subtest.
func (tr Transport) String() string { return tr.Name }

// Aborted reports whether err, what a client read after its server aborted
// the connection (ReadUntilErr), is what the transport shows for an abortive
// close: ECONNRESET over TCP; EOF or ECONNRESET over unix. A read deadline
// is never one.
func (tr Transport) Aborted(err error) bool {
	if tr.Resets {
		return IsReset(err)
	}
	return errors.Is(err, io.EOF) || IsReset(err)
}

// TCP is the loopback TCP transport.
var TCP = Transport{
	Name:   "tcp",
	Listen: func(testing.TB) string { return "tcp://127.0.0.1:0" },
	URL:    func(addr string) string { return "tcp://" + addr },
	Dial:   func(tb testing.TB, addr string) Conn { tb.Helper(); return Dial(tb, addr) },
	Resets: true,
}

// Unix is the unix domain stream socket transport.
var Unix = Transport{
	Name:   "unix",
	Listen: func(tb testing.TB) string { tb.Helper(); return "unix://" + UnixPath(tb) },
	URL:    func(addr string) string { return "unix://" + addr },
	Dial:   func(tb testing.TB, addr string) Conn { tb.Helper(); return DialUnix(tb, addr) },
}

// EachTransport runs body once for every transport in trs, each time as a
// subtest named tr.Name, so that `-run 'TestX/unix'` picks one transport.
// It composes with EachMode: EachTransport(t, trs, func(t, tr) {
// EachMode(t, modes, ...) }) gives TestX/unix/pooled.
func EachTransport(t *testing.T, trs []Transport, body func(t *testing.T, tr Transport)) {
	t.Helper()
	for _, tr := range trs {
		t.Run(tr.Name, func(t *testing.T) { body(t, tr) })
	}
}

// UnixPath returns a socket path that does not exist yet, in a fresh
// directory removed when the test ends. It is short: t.TempDir() paths can
// pass the 107 bytes a socket path may have.
func UnixPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "sa")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

var clientSeq atomic.Uint64

// DialUnix connects to the unix socket at path from a client bound to a
// unique abstract name ("@sockactor-test-<pid>-<n>", no file), and closes
// the connection when the test ends.
func DialUnix(tb testing.TB, path string) *net.UnixConn {
	tb.Helper()
	name := "@sockactor-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(clientSeq.Add(1), 10)
	c, err := net.DialUnix("unix", &net.UnixAddr{Name: name, Net: "unix"}, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
