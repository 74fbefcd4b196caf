package netio

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The transport options reach every TCP connection: those gnet accepts,
// those an accept goroutine hands over, and dialled ones.
func TestTCPOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		keepalive int
		nodelay   int
	}{
		{"defaults", Options{}, 0, 1},
		{"keepalive, Nagle", Options{TCPKeepAlive: 30 * time.Second, DisableTCPNoDelay: true, LoadBalancing: SourceAddrHash}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t)
			tc.opts.EventLoops = 2
			e := NewEngine(dialHandler{h}, tc.opts)
			l, err := e.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Stop(context.Background()) })
			late, err := e.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_ = late.Serve(e)
			for _, addr := range []string{l.Addr(), late.Addr()} {
				cl, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
			}
			ext, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ext.Close()
			go func() {
				if c, err := ext.Accept(); err == nil {
					defer c.Close()
					_, _ = c.Read(make([]byte, 1))
				}
			}()
			if err := e.Dial(context.Background(), ext.Addr().String(), new(int)); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				c := h.waitOpen(t)
				onLoop(t, c, func() {
					fd := gcOf(c).Fd()
					ka, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
					nd, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
					if ka != tc.keepalive || nd != tc.nodelay {
						t.Errorf("%s (listener %v): SO_KEEPALIVE %d, TCP_NODELAY %d; want %d, %d", c.RemoteAddr(), c.Listener() != nil, ka, nd, tc.keepalive, tc.nodelay)
					}
				})
			}
		})
	}
}
