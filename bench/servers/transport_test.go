package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startServer starts a fresh server of name over network in this process,
// or skips the test when the server refuses the network.
func startServer(t *testing.T, name, network, listen string, ctl *Control) (Server, net.Addr) {
	t.Helper()
	srv, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr, err := srv.Start(ctx, Config{Listen: listen, Network: network, Control: ctl, PeerIdleTimeout: 2 * time.Second})
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("%s over %s: %v", name, network, err)
	}
	if err != nil {
		t.Fatalf("start %s over %s: %v", name, network, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return srv, addr
}

// checkUDPEcho sends datagrams of several sizes from two sockets and checks
// every echoed byte. Loopback does not drop datagrams this slow, but a
// lost one is retried rather than failing the test.
func checkUDPEcho(t *testing.T, addr net.Addr) {
	t.Helper()
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		t.Fatalf("address %v is a %T, want *net.UDPAddr", addr, addr)
	}
	for s := range 2 {
		c, err := net.DialUDP("udp", nil, ua)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 2048)
		for i := range 50 {
			msg := []byte(fmt.Sprintf("socket %d datagram %d %s", s, i, strings.Repeat("u", (i*37)%1200)))
			var n int
			for try := 0; ; try++ {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if n, err = c.Read(got); err == nil {
					break
				}
				if try == 3 {
					t.Fatalf("socket %d datagram %d: %v", s, i, err)
				}
			}
			if !bytes.Equal(got[:n], msg) {
				t.Fatalf("socket %d datagram %d: echoed %q, sent %q", s, i, got[:n], msg)
			}
		}
		_ = c.Close()
	}
}

// checkStreamEcho checks every byte of 100 echoes on each of two
// connections.
func checkStreamEcho(t *testing.T, network, addr string) {
	t.Helper()
	for c := range 2 {
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, 4096)
		for i := range 100 {
			msg := []byte(fmt.Sprintf("conn %d message %d %s", c, i, strings.Repeat("x", (i*37)%1500)))
			if _, err := conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(conn, got[:len(msg)]); err != nil {
				t.Fatalf("conn %d message %d: %v", c, i, err)
			}
			if !bytes.Equal(got[:len(msg)], msg) {
				t.Fatalf("conn %d message %d: echoed %q", c, i, got[:len(msg)])
			}
		}
		_ = conn.Close()
	}
}

// TestTransportEcho checks the echo of raw gnet and of the sockactor
// servers over UDP and unix sockets. The sockactor ones skip while the
// runtime refuses the network (WSAEINVAL "unsupported network") and test
// themselves once it serves it.
func TestTransportEcho(t *testing.T) {
	for _, name := range []string{"gnet", "sockactor-inline", "sockactor-pooled"} {
		t.Run(name+"/udp", func(t *testing.T) {
			srv, addr := startServer(t, name, NetUDP, "127.0.0.1:0", nil)
			checkUDPEcho(t, addr)
			if pc, ok := srv.(PeerCounter); ok {
				st, err := pc.PeerStats(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.Open < 2 {
					t.Fatalf("peer stats after two peers sent: %+v", st)
				}
			}
		})
		t.Run(name+"/unix", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "echo.sock")
			_, addr := startServer(t, name, NetUnix, path, nil)
			if ua, ok := addr.(*net.UnixAddr); !ok || ua.Name != path {
				t.Fatalf("address %#v, want the unix socket %s", addr, path)
			}
			checkStreamEcho(t, "unix", path)
		})
	}
}

// TestGnetUDPFixedPort checks that raw gnet's UDP server, multicore, binds
// every loop's socket to the one port it reported (/proc/net/udp lists one
// socket per CPU on it), and that datagrams from many sockets, spread over
// the loops by the kernel, are all answered from that port.
func TestGnetUDPFixedPort(t *testing.T) {
	_, addr := startServer(t, "gnet", NetUDP, "127.0.0.1:0", nil)
	ua := addr.(*net.UDPAddr)
	if ua.Port == 0 {
		t.Fatal("gnet UDP server reported port 0")
	}
	// gnet calls OnBoot (which reports the port) before it binds the other
	// loops' sockets, so look until they are all there (or 5 s have passed).
	local := fmt.Sprintf("0100007F:%04X", ua.Port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			break // no procfs: the echo check below still runs
		}
		bound := 0
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1] == local {
				bound++
			}
		}
		if bound == runtime.NumCPU() {
			break
		}
		if bound > runtime.NumCPU() || time.Now().After(deadline) {
			t.Fatalf("%d sockets bound to %s, want one per event loop (%d)", bound, local, runtime.NumCPU())
		}
	}
	for i := range 32 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.WriteToUDP([]byte("ping"), ua); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		if string(buf[:n]) != "ping" || from.Port != ua.Port {
			t.Fatalf("socket %d: %q from %v, want ping from port %d", i, buf[:n], from, ua.Port)
		}
		_ = c.Close()
	}
}

func TestTCPOnlyServersRefuseOtherNetworks(t *testing.T) {
	for _, name := range []string{"stdlib", "naive"} {
		srv, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = srv.Start(context.Background(), Config{Listen: "127.0.0.1:0", Network: NetUDP})
		var ue *UnsupportedError
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.Reason == "" {
			t.Fatalf("%s over udp: err = %v, want an UnsupportedError", name, err)
		}
	}
}

type fakePeers struct{}

func (fakePeers) PeerStats(context.Context) (PeerStats, error) {
	return PeerStats{Open: 3, Accepted: 5, Closed: map[string]uint64{"timeout": 2}, SendsRefused: 7, Peers: 1}, nil
}

func TestControlPeers(t *testing.T) {
	c, err := ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve() }()
	conn, r := dialControl(t, c)
	ask := func(want string) {
		t.Helper()
		if _, err := conn.Write([]byte("peers\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
	ask(`peers {"error":"this server keeps no peer table"}`)
	c.SetPeerCounter(fakePeers{})
	ask(`peers {"open":3,"accepted":5,"closed":{"timeout":2},"sends_refused":7,"udp_peers":1}`)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
}
