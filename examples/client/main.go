// Command client is a tiny client for driving the examples by hand or from
// a script, where nc is not installed: it sends its standard input to the
// server and prints what the server sends back, over TCP, a unix stream
// socket or UDP.
//
//	go run ./examples/client -addr 127.0.0.1:7070            # type lines; Ctrl-D ends
//	printf 'ECHO hi\nINFO\nCLOSE\n' | go run ./examples/client -addr 127.0.0.1:7070
//	go run ./examples/client -addr 127.0.0.1:7000 -send 'hello'   # one message, then FIN
//	go run ./examples/client -addr unix:///tmp/echo.sock -send 'hello'
//	go run ./examples/client -addr udp://127.0.0.1:7000 -send 'hello'
//	go run ./examples/client -addr tls://127.0.0.1:7443 -fingerprint AB:CD:… -send 'hello'
//
// -addr is host:port or tcp://host:port (TCP), unix:///path (a unix
// stream socket), udp://host:port, or tls://host:port (TLS over TCP). A
// TLS server is verified against the system's roots, or -ca's; with
// -fingerprint the server's certificate is pinned by its SHA-256 instead
// (what examples/echo prints for its self-signed demo certificate). Over
// TLS the half-close is close_notify (the server sees FD_CLOSE
// peer-close), and the version and cipher suite are printed on stderr.
//
// On a stream, at the end of its input (or after -send) it half-closes the
// connection (shutdown(SHUT_WR), what nc -N does), so the server sees
// FD_CLOSE peer-close and can still answer, then it prints the rest of the
// server's output until the server closes (or -wait passes). With -reset
// (TCP only) it ends with a reset (RST) instead, which the server sees as
// peer-reset. It exits 0 once the server has closed the connection, or
// the wait has passed; a reset by the server is an error, reported as
// the socket's ("connection reset by peer").
//
// Over UDP each input line is one datagram, without its newline, and each
// datagram received is printed as one line. UDP has no end of stream: after
// the input ends it exits 0 once it has received as many datagrams as it
// sent, or when -wait passes without one.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/internal/command"
)

func main() {
	command.Main("client", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// run connects, copies stdin (or -send) to the connection and the
// connection to stdout, then ends the connection as the flags say.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7070", "server address: host:port or tcp://host:port (TCP), unix:///path or udp://host:port")
	send := fs.String("send", "", "send this text (a \"\\n\" is added) instead of reading stdin")
	reset := fs.Bool("reset", false, "end with a reset (RST) instead of a half-close (FIN); TCP only")
	caFile := fs.String("ca", "", "tls://: trust the certificates of this PEM file instead of the system's")
	fingerprint := fs.String("fingerprint", "", "tls://: accept exactly the server certificate with this SHA-256 (hex, colons optional)")
	wait := fs.Duration("wait", 5*time.Second, "how long to wait for the server's last words after the input ends (over UDP: for each further reply)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	network, address, err := parseAddr(*addr)
	if err != nil {
		return err
	}
	if *reset && network != "tcp" {
		return fmt.Errorf("-reset needs a TCP address, not %s", network)
	}
	if *send != "" {
		stdin = strings.NewReader(*send + "\n")
	}
	var d net.Dialer
	var conn net.Conn
	if network == "tls" {
		cfg, cerr := clientTLS(address, *caFile, *fingerprint)
		if cerr != nil {
			return cerr
		}
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		conn, err = td.DialContext(ctx, "tcp", address)
		if err == nil {
			st := conn.(*tls.Conn).ConnectionState()
			fmt.Fprintf(stderr, "tls %s %s\n", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		}
	} else {
		conn, err = d.DialContext(ctx, network, address)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // Ctrl-C ends both copies
	defer stop()
	if network == "udp" {
		return runDatagrams(conn, stdin, stdout, *wait)
	}
	return runStream(conn.(streamConn), stdin, stdout, *reset, *wait)
}

// ErrBadAddr is returned for an -addr that names no network run can dial.
var ErrBadAddr = errors.New("bad -addr")

// parseAddr splits an -addr into a network and an address for net.Dial:
// host:port and tcp://host:port are TCP, unix:///path a unix stream
// socket, udp://host:port UDP.
func parseAddr(addr string) (network, address string, err error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return "tcp", addr, nil
	}
	switch scheme {
	case "tcp", "udp", "tls":
		return scheme, rest, nil
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("%w %q: want unix:///absolute/path", ErrBadAddr, addr)
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("%w %q: want host:port, tcp://, tls://, udp:// or unix://", ErrBadAddr, addr)
}

// clientTLS is the TLS config of a tls:// -addr: the system's roots, or
// caFile's, or a pin on the server certificate's SHA-256.
func clientTLS(address, caFile, fingerprint string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadAddr, address, err)
	}
	cfg := &tls.Config{ServerName: host}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no certificate in it", caFile)
		}
	}
	if fingerprint != "" {
		want, err := hex.DecodeString(strings.ReplaceAll(fingerprint, ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("-fingerprint: want the 64 hex digits of a SHA-256")
		}
		// The pin replaces the chain check: the demo certificate is
		// self-signed, and trusting exactly it is what a pin means.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("tls: server certificate sha256 %X is not the pinned one", got)
			}
			return nil
		}
	}
	return cfg, nil
}

// streamConn is a connection that can half-close: *net.TCPConn or
// *net.UnixConn.
type streamConn interface {
	net.Conn
	CloseWrite() error
}

// runStream copies stdin to conn and conn to stdout, then half-closes (or
// resets) and prints the rest until the server closes or wait passes.
func runStream(conn streamConn, stdin io.Reader, stdout io.Writer, reset bool, wait time.Duration) error {
	received := make(chan error, 1)
	go func() { received <- copyOut(stdout, conn) }()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stdin)
		sent <- err
	}()

	select {
	case err := <-received: // the server closed first
		return quiet(err)
	case err := <-sent:
		if err != nil {
			return err
		}
	}
	if reset {
		_ = conn.(*net.TCPConn).SetLinger(0)
		return conn.Close()
	}
	if err := conn.CloseWrite(); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	return quiet(<-received)
}

// copyOut copies conn to stdout until conn ends, keeping the socket's
// errors apart from stdout's: io.Copy to an *os.File splices, and a
// reset of the socket then comes back as a write error on the file.
func copyOut(stdout io.Writer, conn net.Conn) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := stdout.Write(buf[:n]); werr != nil {
				return fmt.Errorf("stdout: %w", werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// runDatagrams sends each line of stdin as one datagram and prints each
// datagram received as one line. After the input ends it returns once
// there have been as many replies as datagrams sent, or when wait passes
// without a reply.
func runDatagrams(conn net.Conn, stdin io.Reader, stdout io.Writer, wait time.Duration) error {
	// inputDone is stored before nSent is read for the last time, and each
	// reply is counted before inputDone is loaded, so the reader or run
	// (or both) sees the last reply with the input done.
	var inputDone atomic.Bool
	var nSent, nReceived atomic.Int64
	received := make(chan error, 1)
	go func() {
		buf := make([]byte, maxDatagram+1)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				received <- err
				return
			}
			got := nReceived.Add(1)
			line := buf[:n]
			if !bytes.HasSuffix(line, []byte("\n")) {
				line = append(line, '\n')
			}
			if _, err := stdout.Write(line); err != nil {
				received <- fmt.Errorf("stdout: %w", err)
				return
			}
			if inputDone.Load() {
				if got >= nSent.Load() {
					received <- nil
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(wait))
			}
		}
	}()
	sent := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4096), maxDatagram+1)
		for sc.Scan() {
			if _, err := conn.Write(sc.Bytes()); err != nil {
				sent <- err
				return
			}
			nSent.Add(1)
		}
		sent <- sc.Err()
	}()

	select {
	case err := <-received: // a reading error, such as ECONNREFUSED: no one listens
		return quiet(err)
	case err := <-sent:
		if err != nil {
			return err
		}
	}
	inputDone.Store(true)
	if nReceived.Load() >= nSent.Load() {
		return nil // every datagram has had its reply
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	return quiet(<-received)
}

// quiet turns the ways a connection normally ends into nil.
func quiet(err error) error {
	var ne net.Error
	if err == nil || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil
	}
	return err
}
