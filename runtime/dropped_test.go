package runtime_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// tcpWmemMax is the most a TCP socket's send buffer grows to by itself
// (the third field of net.ipv4.tcp_wmem).
func tcpWmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		t.Skipf("no tcp_wmem: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		t.Skipf("tcp_wmem %q", b)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		t.Skipf("tcp_wmem %q", b)
	}
	return n
}

// TestHalfOpenPeerResetCountsQueuedBytes: a half-open socket (its peer sent
// FIN) accepts a Send far larger than the socket buffers, so most of it
// waits in the socket's queue; then the peer resets. Every byte that never
// reached the kernel is counted in Stats().Conns.SendDropped: at most the
// Send, and at least the Send less what the kernel can hold (the server's
// send buffer at its largest, the client's receive buffer, which the test
// fixes at 64 KiB, and a margin).
func TestHalfOpenPeerResetCountsQueuedBytes(t *testing.T) {
	const size = 12 << 20
	const clientRcvBuf = 64 << 10
	lower := size - tcpWmemMax(t) - 4*clientRcvBuf - (1 << 20)
	if lower <= 0 {
		t.Skipf("tcp_wmem allows a send buffer near %d bytes: nothing would be sure to wait", size)
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRTOn(t, socktest.TCP, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, nop)
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, clientRcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}}
		nc, err := d.DialContext(context.Background(), "tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := nc.(*net.TCPConn)
		defer c.Close()
		id := s.rec.AcceptedFor(t, c).SocketId
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		s.rec.CloseEvent(t, id) // FD_CLOSE peer-close: the socket is half-open
		pid := s.rt.SocketPID(id)
		if n, err := s.rt.Send(ctx5(t), pid, make([]byte, size)); err != nil || n != size {
			t.Fatalf("Send to the half-open socket = %d, %v", n, err)
		}
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // RST: the client read nothing
		socktest.WaitFor(t, "the queued bytes to be dropped", func() bool {
			return s.rt.Stats().Conns.SendDropped >= uint64(lower)
		})
		got := s.rt.Stats().Conns.SendDropped
		if got > size {
			t.Fatalf("SendDropped = %d, more than the %d bytes sent", got, size)
		}
		t.Logf("%d of %d bytes dropped (at least %d expected)", got, size, lower)
		if _, err := s.rt.Send(ctx5(t), pid, []byte("x")); !errors.Is(err, winsock.ErrConnReset) {
			t.Fatalf("Send after the reset: %v, want WSAECONNRESET", err)
		}
	})
}
