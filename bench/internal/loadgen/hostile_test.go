package loadgen

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// floodServer is a test TCP server that writes to every connection until
// the write fails (the peer never reads: it blocks once the kernel's
// buffers are full). It stops with the test.
func floodServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestRunSlowReaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := floodServer(t)
	// This process stands in for the server's pid.
	res, err := RunSlowReaders(ctx, SlowConfig{Target: addr, Peers: 4, Window: 200 * time.Millisecond,
		Stable: 200 * time.Millisecond, ServerPID: os.Getpid(), Sources: 2, DialParallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	if m[MetricSlowPeers] != 4 || m[MetricKernelPerPeer] <= 0 || m[MetricQuietSecs] < 0.2 || len(res.Errors) != 0 {
		t.Fatalf("metrics %v, errors %v", m, res.Errors)
	}
	for _, k := range []string{MetricIdleCorePct, MetricIdleCPUPerPeer, MetricRSSPerSlowPeer, MetricSettleSecs} {
		if _, ok := m[k]; !ok {
			t.Fatalf("no %s: %v", k, m)
		}
	}
	if _, ok := m[MetricWritesRefused]; ok {
		t.Fatalf("refused writes reported without a side channel: %v", m)
	}
	if _, err := RunSlowReaders(ctx, SlowConfig{Target: addr, Peers: 1, Window: time.Millisecond}); err == nil {
		t.Fatal("a run without the server's pid was accepted")
	}
	if _, err := RunSlowReaders(ctx, SlowConfig{Target: "10.1.2.3:9", Peers: 1, Window: time.Millisecond, ServerPID: 1}); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("off-machine target: err = %v", err)
	}
}

func TestRunSpoof(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := udpEcho(t, 0)
	res, err := RunSpoof(ctx, SpoofConfig{Target: addr, Sources: 300, Window: 30 * time.Second, ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	if m[MetricSpoofSources] != 300 || m[MetricSpoofDrops] != 0 || m[MetricSpoofRate] <= 0 || len(res.Errors) != 0 {
		t.Fatalf("metrics %v, errors %v", m, res.Errors)
	}
	for _, k := range []string{MetricSpoofCPU, MetricSpoofRSSPerSrc} {
		if _, ok := m[k]; !ok {
			t.Fatalf("no %s: %v", k, m)
		}
	}
	if _, ok := m[MetricSpoofPeakOpen]; ok {
		t.Fatalf("peak sockets reported without a peer table: %v", m)
	}
	if _, err := RunSpoof(ctx, SpoofConfig{Target: "[::1]:9", Sources: 1, Window: time.Second, ServerPID: 1}); err == nil {
		t.Fatal("an IPv6 target was accepted (the sources are 127.1.x.y)")
	}
}

func TestSpoofSourceAddr(t *testing.T) {
	seen := map[[4]byte]bool{}
	const n = 254*256 + 1000 // past the third byte's wrap
	for i := range n {
		a := spoofSourceAddr(i)
		if a[0] != 127 || a[1] == 0 || a[3] == 0 || a[3] == 255 || seen[a] {
			t.Fatalf("source %d: %v (repeated: %v)", i, a, seen[a])
		}
		seen[a] = true
	}
}

func TestParseHostilePeers(t *testing.T) {
	p, err := parseHostilePeers(`{"open":70,"accepted":300,"closed":{"limit":230},"sends_refused":4,"udp_peers":64}`)
	if err != nil || p.Open != 70 || p.Accepted != 300 || p.Closed["limit"] != 230 || p.SendsRefused != 4 || p.Peers != 64 {
		t.Fatalf("parsed %+v, %v", p, err)
	}
	if _, err := parseHostilePeers(`{"error":"this server keeps no peer table"}`); !errors.Is(err, errNoPeerTable) {
		t.Fatalf("no table: err = %v", err)
	}
	if _, err := parseHostilePeers(`{"error":"boom"}`); err == nil || errors.Is(err, errNoPeerTable) {
		t.Fatalf("other error: err = %v", err)
	}
}
