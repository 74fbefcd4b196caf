package events_test

import (
	"fmt"
	"io"
	"log/slog"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
)

// BenchmarkPublish measures one FD_CLOSE delivered to n runtime-wide
// subscriber actors (enqueue into their mailboxes; the actors count what
// they get, and the benchmark waits for all of it before it stops).
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.NewTextHandler(io.Discard, nil))
			}))
			defer sys.Shutdown()
			hub := events.NewHub(sys, "bench-hub")
			defer hub.Close()
			var got atomic.Int64
			pids := make([]*actor.PID, n)
			for i := range pids {
				pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
					if _, ok := c.Message().(*events.Event); ok {
						got.Add(1)
					}
				}))
				hub.Subscribe(pids[i], events.MaskOf(events.FDClose))
			}
			ev := &events.Event{Kind: uint32(events.FDClose), SocketId: 1, Reason: "peer-close"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hub.Publish(ev, nil)
			}
			for got.Load() < int64(b.N*n) {
				goruntime.Gosched()
			}
			b.StopTimer()
			for _, p := range pids {
				_ = sys.Root.StopFuture(p).Wait()
			}
		})
	}
}

// discard is a process that drops what it is sent: a subscriber that costs
// the publisher only the registry lookup and the call.
type discard struct{}

func (discard) SendUserMessage(*actor.PID, any)   {}
func (discard) SendSystemMessage(*actor.PID, any) {}
func (discard) Stop(*actor.PID)                   {}

// BenchmarkPublishDuringSnapshots measures Publish on every core while
// another goroutine takes snapshots back to back (snapshots=on) or takes
// none (snapshots=off), with a table of open sockets of the given size.
// Each publisher sends FD_WRITEs and, one operation in eight, closes one
// of its sockets and opens a new one, so the table keeps its size. Each
// snapshot subscribes the same runtime-wide subscriber, as a resyncing
// watcher does. Reported besides ns/op: the publish latency's p50, p99,
// p99.9 and maximum (ns, every operation timed), and the snapshots taken
// per second.
func BenchmarkPublishDuringSnapshots(b *testing.B) {
	for _, open := range []int{10_000, 50_000} {
		for _, snaps := range []bool{false, true} {
			name := fmt.Sprintf("open=%d/snapshots=%s", open, map[bool]string{false: "off", true: "on"}[snaps])
			b.Run(name, func(b *testing.B) { benchPublishDuringSnapshots(b, open, snaps) })
		}
	}
}

func benchPublishDuringSnapshots(b *testing.B, open int, snaps bool) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	hub := events.NewHub(sys, "bench-hub")
	defer hub.Close()
	hub.EnableSnapshots()
	sub, _ := sys.ProcessRegistry.Add(discard{}, "bench-sub")
	hub.Subscribe(sub, events.MaskAll)

	var nextID atomic.Uint64
	procs := goruntime.GOMAXPROCS(0)
	// Each publisher owns an equal share of the open sockets.
	owned := make([][]uint64, procs)
	for i := 0; i < open; i++ {
		id := nextID.Add(1)
		hub.Publish(&events.Event{Kind: uint32(events.FDAccept), SocketId: id, PidId: "sock/x", LocalAddr: "127.0.0.1:1", RemoteAddr: "127.0.0.1:2"}, nil)
		owned[i%procs] = append(owned[i%procs], id)
	}

	stop := make(chan struct{})
	var taken atomic.Int64
	snapDone := make(chan struct{})
	go func() {
		defer close(snapDone)
		if !snaps {
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s, ok := hub.Snapshot(sub, events.MaskAll, nil); !ok || len(s.Sockets) < open/2 {
				panic("snapshot failed")
			}
			taken.Add(1)
		}
	}()

	var (
		mu      sync.Mutex
		samples []int64
		worker  atomic.Int32
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mine := owned[int(worker.Add(1)-1)%procs]
		lat := make([]int64, 0, 1<<16)
		for i := 0; pb.Next(); i++ {
			j := i % len(mine)
			t0 := time.Now()
			if i%8 == 7 {
				hub.Publish(&events.Event{Kind: uint32(events.FDClose), SocketId: mine[j]}, nil)
				mine[j] = nextID.Add(1)
				hub.Publish(&events.Event{Kind: uint32(events.FDAccept), SocketId: mine[j], PidId: "sock/x", LocalAddr: "127.0.0.1:1", RemoteAddr: "127.0.0.1:2"}, nil)
			} else {
				hub.Publish(&events.Event{Kind: uint32(events.FDWrite), SocketId: mine[j]}, nil)
			}
			lat = append(lat, int64(time.Since(t0)))
		}
		mu.Lock()
		samples = append(samples, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	<-snapDone

	slices.Sort(samples)
	at := func(q float64) float64 {
		if len(samples) == 0 {
			return 0
		}
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))])
	}
	b.ReportMetric(at(0.5), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(at(0.999), "p99.9-ns")
	b.ReportMetric(at(1), "max-ns")
	b.ReportMetric(float64(taken.Load())/elapsed.Seconds(), "snapshots/s")
}
