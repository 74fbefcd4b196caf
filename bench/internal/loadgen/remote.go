package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/bench/internal/stats"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Metric keys of the remote scenario (docs/SEMANTICS.md §7).
const (
	MetricRemoteCloseP50 = "remote_close_p50_us" // peer close -> FD_CLOSE at a subscriber on another node
	MetricRemoteCloseP99 = "remote_close_p99_us" //
	MetricRemoteLost     = "remote_lost"         // closes whose FD_CLOSE never reached it
	MetricRemoteRate     = "remote_close_rate"   // achieved closes per second
	MetricRemoteSends    = "remote_sends_per_s"  // Send requests answered per second, over remote
	MetricRemoteSendP50  = "remote_send_p50_us"  // Send request round trip over remote
	MetricRemoteSendP99  = "remote_send_p99_us"  //
)

// RemoteConfig configures RunRemote.
type RemoteConfig struct {
	Target   string        // the server's TCP host:port
	Node     string        // the server's remote address (runtime.NodePID)
	Rate     float64       // connect+close per second
	Paced    time.Duration // length of the close phase
	Conns    int           // connections the Send phase drives
	Workers  int           // concurrent Send requesters
	Payload  int           // bytes per Send
	Duration time.Duration // length of the Send phase
}

// RunRemote is the remote scenario. This process becomes a protoactor
// node (runtime.StartRemote) and subscribes runtime-wide, through the
// server's node actor, to FD_ACCEPT and FD_CLOSE. Phase 1: connections
// opened and closed (FIN) at Rate; each latency is from just before this
// process's close to the FD_CLOSE's arrival at its subscriber (one clock).
// Phase 2: Workers request loops send Send requests to the socket PIDs of
// Conns connections over remote with actors.Caller, for Duration.
func RunRemote(ctx context.Context, cfg RemoteConfig) (Result, error) {
	res := newResult("remote")
	if cfg.Node == "" {
		return res, errors.New("remote: no -node (the server's remote address)")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterThrottleInterval(100*time.Millisecond))
	defer sys.Shutdown()
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: "127.0.0.1:0"}); err != nil {
		return res, err
	}
	defer sockrt.StopRemote(sys)

	var mu sync.Mutex
	closing := map[string]time.Time{} // local address -> when we closed it
	accepted := map[string]*actor.PID{}
	var lat []float64
	matched := make(chan struct{}, 1)
	sub := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		ev, ok := c.Message().(*events.Event)
		if !ok {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		switch ev.EventKind() {
		case events.FDAccept:
			accepted[ev.RemoteAddr] = ev.PID()
		case events.FDClose:
			if t0, ok := closing[ev.RemoteAddr]; ok {
				delete(closing, ev.RemoteAddr)
				lat = append(lat, micros(now.Sub(t0).Nanoseconds()))
				select {
				case matched <- struct{}{}:
				default:
				}
			}
		}
	}))
	defer func() { _ = sys.Root.StopFuture(sub).Wait() }()
	caller := actors.Caller{System: sys, Timeout: 5 * time.Second}
	node := sockrt.NodePID(cfg.Node)
	if err := caller.Subscribe(ctx, node, sub, events.MaskOf(events.FDAccept, events.FDClose)); err != nil {
		return res, fmt.Errorf("remote subscribe: %w", err)
	}

	// Phase 1: paced connect+close.
	n := int(cfg.Rate * cfg.Paced.Seconds())
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	dialErrs := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		c, err := net.DialTimeout("tcp", cfg.Target, 5*time.Second)
		if err != nil {
			dialErrs++
			continue
		}
		mu.Lock()
		closing[c.LocalAddr().String()] = time.Now()
		mu.Unlock()
		c.Close()
	}
	elapsed := time.Since(start).Seconds()
	res.Metrics[MetricRemoteRate] = float64(n-dialErrs) / elapsed
	deadline := time.After(5 * time.Second)
wait:
	for {
		mu.Lock()
		left := len(closing)
		mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-matched:
		case <-deadline:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	mu.Lock()
	sort.Float64s(lat)
	if p, ok := stats.PercentileSorted(lat, 50); ok {
		res.Metrics[MetricRemoteCloseP50] = p
	}
	if p, ok := stats.PercentileSorted(lat, 99); ok {
		res.Metrics[MetricRemoteCloseP99] = p
	}
	res.Metrics[MetricRemoteLost] = float64(len(closing))
	if len(closing) > 0 {
		res.errorf("%d closes whose FD_CLOSE never reached the remote subscriber", len(closing))
	}
	mu.Unlock()
	if dialErrs > 0 {
		res.errorf("%d connects failed", dialErrs)
	}

	// Phase 2: Send requests over remote.
	var conns []net.Conn
	var pids []*actor.PID
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	for i := 0; i < cfg.Conns; i++ {
		c, err := net.DialTimeout("tcp", cfg.Target, 5*time.Second)
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		readers.Add(1)
		go func() { defer readers.Done(); _, _ = io.Copy(io.Discard, c) }() // the echo server sends what Send queues
	}
	for i, c := range conns { // the socket PIDs, from the FD_ACCEPT events
		var pid *actor.PID
		for t0 := time.Now(); pid == nil && time.Since(t0) < 5*time.Second; time.Sleep(time.Millisecond) {
			mu.Lock()
			pid = accepted[c.LocalAddr().String()]
			mu.Unlock()
		}
		if pid == nil {
			return res, fmt.Errorf("no FD_ACCEPT for connection %d", i)
		}
		pids = append(pids, pid)
	}
	payload := make([]byte, cfg.Payload)
	var sent atomic.Int64
	var hmu sync.Mutex
	var rtts []float64
	var sendErrs atomic.Int64
	sctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []float64
			for i := 0; sctx.Err() == nil && i < 10_000_000; i++ {
				s := time.Now()
				if _, err := caller.Send(context.Background(), pids[(w+i)%len(pids)], payload); err != nil {
					sendErrs.Add(1)
					continue
				}
				mine = append(mine, micros(time.Since(s).Nanoseconds()))
				sent.Add(1)
			}
			hmu.Lock()
			rtts = append(rtts, mine...)
			hmu.Unlock()
		}(w)
	}
	wg.Wait()
	res.Metrics[MetricRemoteSends] = float64(sent.Load()) / time.Since(t0).Seconds()
	sort.Float64s(rtts)
	if p, ok := stats.PercentileSorted(rtts, 50); ok {
		res.Metrics[MetricRemoteSendP50] = p
	}
	if p, ok := stats.PercentileSorted(rtts, 99); ok {
		res.Metrics[MetricRemoteSendP99] = p
	}
	if e := sendErrs.Load(); e > 0 {
		res.errorf("%d Send requests failed", e)
	}
	res.notef("remote: this process is a protoactor node subscribed runtime-wide through the server's node actor; latencies on one clock")
	return res, nil
}
