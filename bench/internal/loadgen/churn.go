package loadgen

import (
	"context"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

// ChurnConfig configures a connection-churn run: connections are opened
// and closed by this side, and the server reports through its side channel
// when its FD_CLOSE subscriber (or close callback) saw each close.
type ChurnConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Notify is the server's side channel; empty measures rates only.
	Notify string
	// Rate is the connect+close rate of the paced phase, per second.
	Rate float64
	// Paced is the length of the paced phase (0 skips it).
	Paced time.Duration
	// Unpaced is the length of the as-fast-as-possible phase (0 skips it).
	Unpaced time.Duration
	// Workers is the number of concurrent connect+close loops.
	Workers int
	// Sources is the number of source addresses to spread connections over.
	Sources int
	// MaxConns bounds the connections of each phase.
	MaxConns int
	// RST closes with SO_LINGER 0 (a reset) instead of FIN.
	RST bool
	// HalfClose makes every connection a request: 8 bytes, then FIN
	// (shutdown SHUT_WR) before reading the answer to its end, then close.
	// The server answers on a half-open socket (docs/SEMANTICS.md §5).
	HalfClose bool
	// MatchTimeout is how long to wait for outstanding records after the
	// last close before counting them lost.
	MatchTimeout time.Duration
	// ServerPID, when not zero, is read for server CPU per connection.
	ServerPID int
}

// churn phases, used to split latencies. The warm-up connections of the
// paced phase are matched (and can be lost) like any other, but their
// latencies, which include the server's first-use costs, are not reported.
const (
	churnPaced = iota
	churnUnpaced
	churnWarm
	churnPhases
)

// churnWarmup is the share of the paced phase run first as warm-up, at the
// same rate.
const churnWarmup = 0.2

type pendingClose struct {
	unixNano int64
	phase    int
}

// closeMatcher pairs our closes with the server's records by the
// connection's address: our local address is the server's remote address.
type closeMatcher struct {
	mu        sync.Mutex
	pending   map[string][]pendingClose
	waiting   int
	lat       [churnPhases][]float64
	detect    [churnPhases][]float64 // peer close -> server emitted the event
	unmatched int
	allDone   chan struct{} // signalled when waiting drops to zero
}

func newCloseMatcher() *closeMatcher {
	return &closeMatcher{pending: make(map[string][]pendingClose), allDone: make(chan struct{}, 1)}
}

// closing registers a close just before it is issued.
func (m *closeMatcher) closing(local string, phase int) {
	now := time.Now().UnixNano()
	m.mu.Lock()
	m.pending[local] = append(m.pending[local], pendingClose{unixNano: now, phase: phase})
	m.waiting++
	m.mu.Unlock()
}

// record matches one server record to the oldest pending close of its
// address.
func (m *closeMatcher) record(r closeRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.pending[r.remote]
	if len(q) == 0 {
		m.unmatched++
		return
	}
	pc := q[0]
	if len(q) == 1 {
		delete(m.pending, r.remote)
	} else {
		m.pending[r.remote] = q[1:]
	}
	m.lat[pc.phase] = append(m.lat[pc.phase], float64(r.unixNano-pc.unixNano)/1e3)
	if r.emitNano != 0 {
		m.detect[pc.phase] = append(m.detect[pc.phase], float64(r.emitNano-pc.unixNano)/1e3)
	}
	m.waiting--
	if m.waiting == 0 {
		select {
		case m.allDone <- struct{}{}:
		default:
		}
	}
}

func (m *closeMatcher) outstanding() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting
}

// RunChurn runs the churn scenario: a paced phase that measures the close
// notification latency at a fixed rate, then an unpaced phase that
// measures the connect+close rate.
func RunChurn(ctx context.Context, cfg ChurnConfig) (Result, error) {
	res := newResult("churn")
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.MaxConns < 1 {
		cfg.MaxConns = 20000
	}
	if cfg.MatchTimeout <= 0 {
		cfg.MatchTimeout = 2 * time.Second
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 5*time.Second)
	if err != nil {
		return res, err
	}

	var m *closeMatcher
	var cc *controlClient
	records := make(chan closeRecord, 1024)
	drained := make(chan struct{})
	if cfg.Notify != "" {
		m = newCloseMatcher()
		go func() {
			defer close(drained)
			for r := range records {
				m.record(r)
			}
		}()
		cc, err = dialControl(ctx, cfg.Notify, records)
		if err != nil {
			close(records)
			<-drained
			return res, err
		}
	}

	var dialErrs atomic.Int64
	one := func(phase int) {
		c, err := d.Dial(ctx)
		if err != nil {
			dialErrs.Add(1)
			return
		}
		if cfg.RST {
			_ = c.SetLinger(0)
		}
		if cfg.HalfClose && !halfCloseRequest(c) {
			dialErrs.Add(1)
		}
		if m != nil {
			m.closing(c.LocalAddr().String(), phase)
		}
		_ = c.Close()
	}

	if cfg.Paced > 0 && cfg.Rate > 0 {
		n := min(int(cfg.Rate*cfg.Paced.Seconds()), cfg.MaxConns)
		warm := int(float64(n) * churnWarmup)
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		var next, measured atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(warm+n) || ctx.Err() != nil {
						return
					}
					if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
						if !sleepCtx(ctx.Done(), wait) {
							return
						}
					}
					if i < int64(warm) {
						one(churnWarm)
						continue
					}
					if i == int64(warm) {
						measured.Store(time.Now().UnixNano())
					}
					one(churnPaced)
				}
			}()
		}
		wg.Wait()
		if el := time.Since(time.Unix(0, measured.Load())).Seconds(); measured.Load() != 0 && el > 0 {
			res.Metrics[MetricPacedRate] = float64(n) / el
		}
	}

	if cfg.Unpaced > 0 {
		cpu0, err := readStat(cfg.ServerPID)
		if err != nil {
			res.errorf("server cpu: %v", err)
		}
		var count atomic.Int64
		start := time.Now()
		deadline := start.Add(cfg.Unpaced)
		var wg sync.WaitGroup
		for range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					if count.Add(1) > int64(cfg.MaxConns) {
						return
					}
					one(churnUnpaced)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		n := min(count.Load(), int64(cfg.MaxConns))
		res.Metrics[MetricMaxRate] = float64(n) / el
		cpu1, err := readStat(cfg.ServerPID)
		if err != nil {
			res.errorf("server cpu: %v", err)
		}
		if cpu0.PID != 0 && cpu1.PID != 0 && n > 0 {
			res.Metrics[MetricCPUPerClose] = (cpu1.CPUTime() - cpu0.CPUTime()).Seconds() * 1e6 / float64(n)
		}
	}
	res.Metrics[MetricDialErrors] = float64(dialErrs.Load())
	if n := dialErrs.Load(); n > 0 {
		res.errorf("%d connects failed", n)
	}

	if m == nil {
		res.notef("no side channel: rates only")
		return res, ctx.Err()
	}
	// Wait for the outstanding records, then stop the side channel.
	t := time.NewTimer(cfg.MatchTimeout)
wait:
	for m.outstanding() > 0 {
		select {
		case <-m.allDone:
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	t.Stop()
	cc.close()
	close(records)
	<-drained

	m.mu.Lock()
	defer m.mu.Unlock()
	if det := m.detect[churnPaced]; len(det) > 0 {
		sort.Float64s(det)
		if p, ok := stats.PercentileSorted(det, 99); ok {
			res.Metrics[MetricPacedEmitP99] = p
		}
	}
	for phase, keys := range map[int][3]string{
		churnPaced:   {MetricPacedP50, MetricPacedP99, MetricPacedMax},
		churnUnpaced: {MetricMaxP50, MetricMaxP99, ""},
	} {
		lat := m.lat[phase]
		sort.Float64s(lat)
		if p, ok := stats.PercentileSorted(lat, 50); ok {
			res.Metrics[keys[0]] = p
		}
		if p, ok := stats.PercentileSorted(lat, 99); ok {
			res.Metrics[keys[1]] = p
		}
		if keys[2] != "" && len(lat) > 0 {
			res.Metrics[keys[2]] = lat[len(lat)-1]
		}
	}
	res.Metrics[MetricLost] = float64(m.waiting)
	res.Metrics[MetricUnmatched] = float64(m.unmatched)
	if m.waiting > 0 {
		res.errorf("%d closes got no record within %v (lost events)", m.waiting, cfg.MatchTimeout)
	}
	if m.unmatched > 0 {
		res.errorf("%d records matched no close of ours (duplicates?)", m.unmatched)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// halfCloseRequest sends an 8-byte request, half-closes, and reads the echo
// to the server's FIN. It reports whether the whole echo came back.
func halfCloseRequest(c *net.TCPConn) bool {
	const req = "halfclos"
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		return false
	}
	if err := c.CloseWrite(); err != nil {
		return false
	}
	got, err := io.ReadAll(c)
	return err == nil && string(got) == req
}
