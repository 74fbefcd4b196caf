package socktest

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// The client side of a socket test: a plain net.Conn on loopback, each call
// bounded by ConnTimeout. For the test's goroutine (they call tb.Fatal).

// ConnTimeout bounds each dial and read of these helpers.
const ConnTimeout = 5 * time.Second

// Dial connects to addr over TCP and closes the connection when the test
// ends.
func Dial(tb testing.TB, addr string) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, ConnTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// RoundTrip writes msg and reads the same number of bytes back.
func RoundTrip(tb testing.TB, c net.Conn, msg string) string {
	tb.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(ConnTimeout))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		tb.Fatal(err)
	}
	return string(buf)
}

// ReadUntilErr reads until an error (EOF, reset, the deadline) and returns
// it.
func ReadUntilErr(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(ConnTimeout))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}

// IsReset reports whether err is a connection reset (the peer's RST).
func IsReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
