package fleet_test

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/fleet"
)

// BenchmarkFleetFDClose measures the delay from a client's close to the
// FD_CLOSE update at a fleet watcher on another node (in one process, over
// loopback and protoactor remote): p50 and p99 per close, b.N closes one
// at a time.
//
//	go test -run - -bench FleetFDClose -benchtime 500x ./fleet/
func BenchmarkFleetFDClose(b *testing.B) {
	etcd := newEtcd(b)
	cfg := &fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl}
	n := newWatcherNode(b)
	g := newGateway(b, cfg)
	etcd.start(b)
	g.start(b)
	closed := make(chan time.Time, 1)
	n.rec.onEvent = func(u fleet.Update) {
		if u.Kind == fleet.Event && u.Event.EventKind() == events.FDClose {
			closed <- time.Now()
		}
	}
	n.watch(b, *cfg)
	if !waitUntil(func() bool { s, _ := n.view(g.rt.Address()); return s }) {
		b.Fatal("never synced")
	}
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			b.Fatal(err)
		}
		if !waitUntil(func() bool { _, s := n.view(g.rt.Address()); return len(s) == 1 }) {
			b.Fatal("no FD_ACCEPT")
		}
		start := time.Now()
		c.Close()
		select {
		case at := <-closed:
			lat = append(lat, at.Sub(start))
		case <-time.After(deadline):
			b.Fatal("no FD_CLOSE")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
