package grpcorder

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"
)

// setLogger is what protoactor's remote.Start does first: an unsynchronized
// write of gRPC's process-wide logger.
func setLogger() {
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}

// startServer starts a gRPC server (no services: a transport is enough)
// behind the barrier, as runtime starts a remote. The caller stops it.
func startServer(t *testing.T) (*grpc.Server, string, *ServerCreds) {
	t.Helper()
	c := NewServerCreds()
	var s *grpc.Server
	err := Start(c, func() (string, error) {
		setLogger()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		s = grpc.NewServer(grpc.Creds(c))
		go func() { _ = s.Serve(l) }()
		return l.Addr().String(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, c.addr, c
}

// waitState waits until cc reaches a state that want accepts. It does not
// ask cc to connect: a reconnecting client is live traffic, which no Start
// of the process should race with (barrier.go).
func waitState(t *testing.T, cc *grpc.ClientConn, want func(connectivity.State) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s := cc.GetState(); !want(s); s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			t.Fatalf("client state stuck at %v", s)
		}
	}
}

// A client whose server goes away logs the lost transport on gRPC's
// goroutines, which nothing waits for; a Start after that writes the
// logger. Under -race this test fails (a data race reported) unless the
// client's connections are ordered with Start: without DialOption below
// it does, on the reader goroutine's read in the transport's Close.
func TestClientLostTransportIsOrderedBeforeNextStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	for range 3 {
		s, addr, c := startServer(t)
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), DialOption())
		if err != nil {
			t.Fatal(err)
		}
		cc.Connect()
		waitState(t, cc, func(s connectivity.State) bool { return s == connectivity.Ready })
		before := closes.Load()
		s.Stop() // the client's transport is lost from the server's side
		Forget(c)
		waitState(t, cc, func(s connectivity.State) bool { return s != connectivity.Ready })
		deadline := time.Now().Add(10 * time.Second)
		for closes.Load() == before { // the reader goroutine has closed its socket
			if time.Now().After(deadline) {
				t.Fatal("the lost transport's connection was never closed")
			}
			time.Sleep(time.Millisecond)
		}
		// The next Start: its logger write must be ordered after the
		// reads of the goroutines that handled the lost transport.
		s2, _, c2 := startServer(t)
		if err := cc.Close(); err != nil {
			t.Fatal(err)
		}
		s2.Stop()
		Forget(c2)
	}
}

// DialOption dials what gRPC's default dialer dials: TCP host:port, and
// unix sockets named as etcd's client names them.
func TestDialAddresses(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go acceptAll(ul)
	go acceptAll(tl)
	cases := []struct {
		name, addr, network string
		ok                  bool
	}{
		{"tcp", tl.Addr().String(), "tcp", true},
		{"unix absolute", "unix://" + sock, "unix", true},
		{"unix", "unix:" + sock, "unix", true},
		{"unix missing", "unix://" + filepath.Join(dir, "none"), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := dial(ctx, tc.addr)
			if !tc.ok {
				if err == nil {
					conn.Close()
					t.Fatalf("dial %q: no error", tc.addr)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial %q: %v", tc.addr, err)
			}
			if got := conn.RemoteAddr().Network(); got != tc.network {
				t.Errorf("dial %q: network %q, want %q", tc.addr, got, tc.network)
			}
			before := closes.Load()
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			if closes.Load() != before+1 {
				t.Error("Close of a dialed connection did not go through the barrier")
			}
		})
	}
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
