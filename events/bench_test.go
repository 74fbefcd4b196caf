package events_test

import (
	"fmt"
	"io"
	"log/slog"
	goruntime "runtime"
	"sync/atomic"
	"testing"

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
