package runtime_test

import (
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// tagger answers each read with its name, then the bytes read: a client
// learns which runtime served it.
func tagger(name byte) actors.Handler {
	return actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			_, _ = c.Write(append([]byte{name}, m.Data...))
		}
	})
}

// servedBy dials address (TLS when cfg is set), sends one byte and returns
// the name of the runtime that answered.
func servedBy(t *testing.T, address string, cfg *tls.Config) byte {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	d := &net.Dialer{Timeout: 5 * time.Second}
	if cfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", address, cfg)
	} else {
		c, err = d.Dial("tcp", address)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", address, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || buf[1] != 'x' {
		t.Fatalf("answer from %s: %q, %v", address, buf, err)
	}
	return buf[0]
}

// TestReusePortSharesAPort: two runtimes with Options.ReusePort listen on
// one port, one declared before Start and one while running; the kernel
// spreads connections over both (64 connections all on one side would
// happen once in 2⁶³), a second listener of one runtime on the address is
// still refused, and when one runtime shuts down the other takes every new
// connection. Over TCP and tls://.
func TestReusePortSharesAPort(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "tcp"
		var clientCfg *tls.Config
		lopts := actors.ListenOptions{}
		if secure {
			name = "tls"
			clientCfg = &tls.Config{RootCAs: tlsdemo.Pool(tlsCert), ServerName: "localhost"}
			lopts.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}}
		}
		t.Run(name, func(t *testing.T) {
			address := "127.0.0.1:" + strconv.Itoa(socktest.FreePort(t))
			url := name + "://" + address
			fds := fdCount(t)
			a, err := sockrt.New(sockrt.Options{EventLoops: 1, ReusePort: true})
			if err != nil {
				t.Fatal(err)
			}
			b, err := sockrt.New(sockrt.Options{EventLoops: 1, ReusePort: true})
			if err != nil {
				t.Fatal(err)
			}
			// Cleanups run last first: b's waits for every descriptor, so a
			// (shut down below too: Shutdown is idempotent) goes first.
			shutdownAtEnd(t, b, fds, 10*time.Second)
			t.Cleanup(func() {
				if err := a.Shutdown(ctx5(t)); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			})
			if _, err := a.Listen(url, tagger('A'), lopts); err != nil {
				t.Fatalf("Listen before Start: %v", err)
			}
			if err := a.Start(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			if err := b.Start(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Listen(url, tagger('B'), lopts); err != nil {
				t.Fatalf("Listen while running, beside another runtime: %v", err)
			}
			if ln, err := b.Listen(url, tagger('B'), lopts); ln != nil || !isAddrInUse(err) {
				t.Fatalf("a second Listen(%s) in one runtime = %v, %v; want WSAEADDRINUSE", url, ln, err)
			}
			got := map[byte]int{}
			for range 64 {
				got[servedBy(t, address, clientCfg)]++
			}
			if got['A'] == 0 || got['B'] == 0 || got['A']+got['B'] != 64 {
				t.Fatalf("connections served: A %d, B %d of 64; want both", got['A'], got['B'])
			}
			if err := a.Shutdown(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			for i := range 16 {
				if by := servedBy(t, address, clientCfg); by != 'B' {
					t.Fatalf("connection %d after A's shutdown served by %c", i, by)
				}
			}
		})
	}
}

// TestReusePortBesideAPlainListener: an address another process holds
// without SO_REUSEPORT is refused at once by a ReusePort runtime's Listen
// (it binds there), with WSAEADDRINUSE; the runtime keeps running.
func TestReusePortBesideAPlainListener(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fdCount(t), 10*time.Second)
	if ln, err := rt.Listen("tcp://"+held.Addr().String(), echo, actors.ListenOptions{}); ln != nil || !isAddrInUse(err) {
		t.Fatalf("Listen on a port held without SO_REUSEPORT = %v, %v; want WSAEADDRINUSE", ln, err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	echoes(t, "tcp://"+ln.Addr().String())
}
