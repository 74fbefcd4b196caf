package socktest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sockactor/sockactor/internal/tlsdemo"
)

// The transport axis of the socket tests: the same test body over TCP on
// loopback, over unix domain stream sockets (docs/SEMANTICS.md §6) and over
// TLS on loopback TCP (§8).

// Conn is a test client's connection: TCP, unix or TLS, all half-closable.
type Conn interface {
	net.Conn
	// CloseWrite shuts the sending side down (FIN; EOF at the peer). Over
	// TLS it sends close_notify only (crypto/tls leaves the TCP connection
	// open): the peer's FD_CLOSE 0 peer-close. TLSNetConn(c).CloseWrite()
	// after it adds the FIN.
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
	// ServerTLS is the *tls.Config a listener on Listen's address needs
	// (actors.ListenOptions.TLS), and ClientTLS the one a runtime's Dial
	// to URL needs (actors.SocketOptions.TLS); nil for TCP and unix.
	ServerTLS, ClientTLS *tls.Config
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

// TLS is TLS over loopback TCP: Go's crypto/tls client against a tls://
// listener holding TLSCert (for 127.0.0.1 and localhost). Dial returns a
// *tls.Conn whose handshake has completed; its CloseWrite sends
// close_notify (no FIN), and TLSNetConn gives the TCP connection under it.
var TLS = Transport{
	Name:      "tls",
	Listen:    func(testing.TB) string { return "tls://127.0.0.1:0" },
	URL:       func(addr string) string { return "tls://" + addr },
	Dial:      func(tb testing.TB, addr string) Conn { tb.Helper(); return DialTLS(tb, addr) },
	Resets:    true,
	ServerTLS: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { c := TLSCert(); return &c, nil }},
	ClientTLS: &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, VerifyPeerCertificate: isTLSCert},
}

// isTLSCert accepts exactly TLSCert as the server's certificate: the
// transport's client config is a package variable, made before TLSCert.
func isTLSCert(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 || !bytes.Equal(raw[0], TLSCert().Certificate[0]) {
		return errors.New("socktest: not the TLS transport's certificate")
	}
	return nil
}

var (
	tlsOnce sync.Once
	tlsCert tls.Certificate
)

// TLSCert is the self-signed certificate (127.0.0.1, localhost) the TLS
// transport's listeners present, made once per process.
func TLSCert() tls.Certificate {
	tlsOnce.Do(func() {
		c, err := tlsdemo.SelfSigned("socktest", "127.0.0.1", "localhost")
		if err != nil {
			panic(err)
		}
		tlsCert = c
	})
	return tlsCert
}

// TLSClientConfig returns a fresh client config that trusts TLSCert only,
// for server name localhost.
func TLSClientConfig() *tls.Config {
	return &tls.Config{RootCAs: tlsdemo.Pool(TLSCert()), ServerName: "localhost"}
}

// DialTLS connects to addr with Go's TLS client (TLSClientConfig), completes
// the handshake within ConnTimeout, and closes the connection when the test
// ends.
func DialTLS(tb testing.TB, addr string) *tls.Conn {
	tb.Helper()
	c, err := DialTLSConfig(addr, TLSClientConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// DialTLSConfig connects to addr with cfg and completes the handshake
// within ConnTimeout. The caller closes the connection.
func DialTLSConfig(addr string, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ConnTimeout)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// TLSNetConn returns the TCP connection under a TLS client's connection:
// to reset it (SetLinger(0), Close), or to half-close it without
// close_notify (CloseWrite, a truncation).
func TLSNetConn(c *tls.Conn) *net.TCPConn { return c.NetConn().(*net.TCPConn) }

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
