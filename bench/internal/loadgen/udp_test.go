package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// udpEcho is a test UDP echo server that drops every dropEvery-th datagram
// (0: none). It stops with the test.
func udpEcho(t *testing.T, dropEvery int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for i := 1; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if dropEvery > 0 && i%dropEvery == 0 {
				continue
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

func TestRunUDPEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name      string
		dropEvery int
	}{{"lossless", 0}, {"every 7th datagram dropped", 7}} {
		t.Run(tt.name, func(t *testing.T) {
			addr := udpEcho(t, tt.dropEvery)
			// Short where datagrams are dropped, to keep the run short;
			// long where none is, so that a loaded machine's scheduling
			// delay is not counted as a loss.
			lossTimeout := time.Second
			if tt.dropEvery > 0 {
				lossTimeout = 20 * time.Millisecond
			}
			start := time.Now()
			res, err := RunUDPEcho(ctx, UDPEchoConfig{Target: addr, Peers: 4, Payload: 64, Warmup: 20 * time.Millisecond,
				Duration: 300 * time.Millisecond, LossTimeout: lossTimeout, ServerPID: os.Getpid(), Sources: 2})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("run took %v: a lost datagram must cost one loss timeout, not hang", took)
			}
			m := res.Metrics
			if m[MetricMsgs] == 0 || m[MetricMismatches] != 0 || m[MetricConns] != 4 || m[MetricP99Micros] <= 0 {
				t.Fatalf("metrics %v, errors %v", m, res.Errors)
			}
			if _, ok := m[MetricCPUPerMsg]; !ok {
				t.Fatalf("no CPU per datagram: %v", m)
			}
			if lost := m[MetricLostDatagrams]; (tt.dropEvery == 0) != (lost == 0) {
				t.Fatalf("lost %v with dropEvery %d", lost, tt.dropEvery)
			}
			if len(res.Errors) != 0 {
				t.Fatalf("errors %v", res.Errors)
			}
		})
	}
	if _, err := RunUDPEcho(ctx, UDPEchoConfig{Target: "127.0.0.1:9", Peers: 1, Payload: 4, Duration: time.Millisecond}); err == nil {
		t.Fatal("a 4-byte payload (no room for the sequence number) was accepted")
	}
	if _, err := RunUDPEcho(ctx, UDPEchoConfig{Target: "10.1.2.3:9", Peers: 1, Payload: 64, Duration: time.Millisecond}); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("off-machine target: err = %v", err)
	}
}

func TestRunUDPChurn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := udpEcho(t, 0)
	// This process stands in for the server's pid: its RSS and CPU are
	// read, and it has no side channel, so the expiry is not measured.
	res, err := RunUDPChurn(ctx, UDPChurnConfig{Target: addr, Peers: 300, Parallel: 8, Payload: 8,
		Settle: 10 * time.Millisecond, PeerIdle: 2 * time.Second, LossTimeout: 100 * time.Millisecond, Retries: 2,
		ServerPID: os.Getpid(), Sources: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	if m[MetricPeers] != 300 || m[MetricPeerLost] != 0 || m[MetricPeersPerSec] <= 0 || len(res.Errors) != 0 {
		t.Fatalf("metrics %v, errors %v", m, res.Errors)
	}
	if _, ok := m[MetricRSSPerPeerPfx+"300"]; !ok {
		t.Fatalf("no RSS per peer: %v", m)
	}
	if _, ok := m[MetricLivePeers]; ok {
		t.Fatalf("live peers reported without a peer table: %v", m)
	}
	if _, err := RunUDPChurn(ctx, UDPChurnConfig{Target: addr, Peers: 1, Payload: 8}); err == nil {
		t.Fatal("a churn without the server's pid was accepted")
	}
}

func TestParsePeers(t *testing.T) {
	pc, err := parsePeers(`{"open":3,"accepted":9,"closed":{"timeout":4,"shutdown":1}}`)
	if err != nil || pc != (peerCounters{open: 3, closed: 5, timeout: 4}) {
		t.Fatalf("parsePeers = %+v, %v", pc, err)
	}
	if _, err := parsePeers(`{"error":"this server keeps no peer table"}`); !errors.Is(err, errNoPeerTable) {
		t.Fatalf("no table: err = %v", err)
	}
	if _, err := parsePeers(`{"error":"boom"}`); err == nil || errors.Is(err, errNoPeerTable) {
		t.Fatalf("other error: err = %v", err)
	}
	if _, err := parsePeers(`nope`); err == nil {
		t.Fatal("garbage accepted")
	}
}

// TestRunEchoUnix runs the echo scenario over a unix socket against a
// test echo server.
func TestRunEchoUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serveEach(t, ln, func(c net.Conn) { _, _ = io.Copy(c, c) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := RunEcho(ctx, EchoConfig{Network: "unix", Target: path, Conns: 3, Payload: 64, Window: 1,
		Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond, DialParallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics[MetricMsgs] == 0 || res.Metrics[MetricMismatches] != 0 || res.Metrics[MetricConns] != 3 || len(res.Errors) != 0 {
		t.Fatalf("metrics %v errors %v", res.Metrics, res.Errors)
	}
}
