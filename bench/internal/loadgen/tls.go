package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// The tls scenarios' load generators (the bench's tls scenario, against
// TLS 1.3 echo servers: see servers.ModeTLS).
const (
	// ScenarioTLSHandshake: Workers loops, each a full handshake (no
	// session resumption: the client keeps no session cache), one 8-byte
	// echo and a close (close_notify, FIN), in turn.
	ScenarioTLSHandshake = "tls-handshake"
	// ScenarioTLSEcho: Conns established TLS connections, Payload-byte
	// request/response echo, as the echo scenario over TCP.
	ScenarioTLSEcho = "tls-echo"
	// ScenarioTLSIdle: TLS connections opened in cumulative Steps, one
	// 8-byte echo each, then idle; the server's RSS and live heap+stacks.
	ScenarioTLSIdle = "tls-idle"
	// ScenarioTLSHalfOpen: Conns raw TCP connections that never send a
	// ClientHello, while a few established TLS connections echo.
	ScenarioTLSHalfOpen = "tls-halfopen"
)

// Metric keys of the tls scenarios (the echo's own keys too: msgs/s,
// CPU/msg, p50/p99; and rss_per_conn_N for idle).
const (
	MetricTLSHandshakesPerSec = "tls_handshakes_per_s"        // full handshakes (+ one echo + close) per second
	MetricTLSCPUPerHandshake  = "tls_cpu_us_per_handshake"    // server CPU per handshake, µs
	MetricTLSHandshakeErrors  = "tls_handshake_errors"        // failed handshakes (or their echo)
	MetricTLSHeapPerConnPfx   = "tls_heapstack_per_conn_"     // live heap + stacks per idle connection, bytes (after a forced GC)
	MetricTLSGoroutinesPfx    = "tls_goroutines_"             // server goroutines with N idle connections
	MetricTLSHOConns          = "tls_ho_conns"                // half-open connections made
	MetricTLSHORefused        = "tls_ho_refused"              // of them, closed by the server during the hold (sockactor: evicted over MaxTLSHandshakes)
	MetricTLSHOHeld           = "tls_ho_held"                 // of them, still open at the end of the hold (a handshake slot, or a goroutine, each)
	MetricTLSHOSrvRefused     = "tls_ho_srv_refused"          // the server's own count of refused (sockactor: evicted) handshakes
	MetricTLSHOSrvFailed      = "tls_ho_srv_failed"           // the server's count of failed handshakes once the half-open connections closed
	MetricTLSHORSSDelta       = "tls_ho_rss_delta_mb"         // server RSS during the attack − before, MiB
	MetricTLSHOHeapDelta      = "tls_ho_heapstack_delta_mb"   // live heap + stacks during the attack − before, MiB
	MetricTLSHORSSPerHeld     = "tls_ho_rss_per_held"         // RSS delta / held half-open connections, bytes
	MetricTLSHOHeapPerHeld    = "tls_ho_heapstack_per_held"   // heap+stack delta / held, bytes
	MetricTLSHOCPUPerConn     = "tls_ho_cpu_us_per_conn"      // server CPU while the half-open connections were made, per connection, µs
	MetricTLSHOHoldCorePct    = "tls_ho_hold_core_pct"        // server CPU during the hold, % of a core (the established echo included)
	MetricTLSHOP99Before      = "tls_ho_p99_before_us"        // established echo round trip p99 before the attack, µs
	MetricTLSHOP99During      = "tls_ho_p99_during_us"        // the same from the first half-open connect to the end of the hold
	MetricTLSHOMaxDuring      = "tls_ho_max_during_us"        // its maximum
	MetricTLSHONewOK          = "tls_ho_new_ok"               // fresh handshakes tried during the hold that succeeded
	MetricTLSHONewTried       = "tls_ho_new_tried"            // fresh handshakes tried during the hold
	MetricTLSHOAfterOK        = "tls_ho_after_ok"             // a fresh handshake once the half-open connections are gone: 1 ok, 0 not
	MetricTLSHOGoroutines     = "tls_ho_goroutines"           // server goroutines during the attack
	metricTLSHOEchoMsgs       = "tls_ho_echo_msgs"            // established echoes during the attack
	metricTLSHOEchoErrors     = "tls_ho_echo_errors"          // established echoes that failed
	metricTLSHandshakesServer = "tls_server_handshakes_delta" // the server's count of completed handshakes in the window
)

// TLSConfig configures a tls scenario run.
type TLSConfig struct {
	// Target is the TLS server's host:port (loopback only); Notify its
	// side channel (idle and half-open: the live heap and TLS counters).
	Target, Notify string
	// Conns is the echo connections (echo) or the half-open ones.
	Conns int
	// Payload is the echo message size (echo).
	Payload int
	// Workers is the concurrent handshake loops (handshake).
	Workers int
	// Warmup and Duration are the warm-up and the measured window
	// (handshake, echo) or the hold of the half-open connections.
	Warmup, Duration time.Duration
	// Steps are the cumulative connection counts of idle, comma-separated.
	Steps string
	// Settle is the pause before each memory reading (idle, half-open).
	Settle time.Duration
	// ServerPID is the server process, for its CPU time and RSS.
	ServerPID int
	// Sources is the source addresses to spread connections over;
	// DialParallel bounds concurrent dials (and handshakes).
	Sources, DialParallel int
}

// tlsClientConfig is the client side of every tls scenario: TLS 1.3, no
// session cache (every handshake is a full one). The server's
// certificate is a fresh self-signed one per server process, so it is not
// verified against roots; crypto/tls still checks the server's signature
// over the handshake with the certificate's key.
func tlsClientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // a loopback bench against its own self-signed server
}

// tlsHandshakeTimeout bounds one client handshake.
const tlsHandshakeTimeout = 10 * time.Second

// dialTLS opens one TCP connection with d and runs the client handshake.
func dialTLS(ctx context.Context, d *Dialer, cfg *tls.Config) (*tls.Conn, error) {
	tc, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	c := tls.Client(tc, cfg)
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		_ = tc.SetLinger(0)
		_ = tc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return c, nil
}

// dialTLSAll opens n TLS connections, at most par dials and handshakes in
// flight, running init on each.
func dialTLSAll(ctx context.Context, d *Dialer, n, par int, init func(i int, c *tls.Conn) error) ([]*tls.Conn, error) {
	cfg := tlsClientConfig()
	dial := func(ctx context.Context) (*tls.Conn, error) { return dialTLS(ctx, d, cfg) }
	return dialParallel(ctx, n, par, dial, init, closeTLS)
}

// closeTLS closes every non-nil connection with a reset, as closeAll does
// (no close_notify: the end of a run is not measured).
func closeTLS(conns []*tls.Conn) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.NetConn().Close()
	}
}

// RunTLS runs one of the tls scenarios.
func RunTLS(ctx context.Context, scenario string, cfg TLSConfig) (Result, error) {
	switch scenario {
	case ScenarioTLSHandshake:
		return runTLSHandshakes(ctx, cfg)
	case ScenarioTLSEcho:
		return runTLSEcho(ctx, cfg)
	case ScenarioTLSIdle:
		return runTLSIdle(ctx, cfg)
	case ScenarioTLSHalfOpen:
		return runTLSHalfOpen(ctx, cfg)
	}
	return newResult(scenario), fmt.Errorf("unknown tls scenario %q", scenario)
}

// runTLSHandshakes measures full handshakes: Workers loops of connect,
// handshake, one 8-byte echo, close (close_notify, FIN), with the server's
// CPU over the measured window.
func runTLSHandshakes(ctx context.Context, cfg TLSConfig) (Result, error) {
	res := newResult(ScenarioTLSHandshake)
	if cfg.Workers < 1 || cfg.Duration <= 0 {
		return res, errors.New("tls-handshake: workers and duration must be positive")
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	// Bounded in count as well as in time: far more than 2 cores make.
	maxPerWorker := int64(max(1000, 200_000/cfg.Workers))
	tcfg := tlsClientConfig()
	var (
		phase   atomic.Int32
		hist    stats.Histogram
		done    atomic.Int64
		failed  atomic.Int64
		errMu   sync.Mutex
		errSeen []string
		wg      sync.WaitGroup
	)
	base := time.Now()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte(fmt.Sprintf("h%07d", w))
			in := make([]byte, len(msg))
			for range maxPerWorker {
				if phase.Load() == phaseStop || lctx.Err() != nil {
					return
				}
				t0 := time.Since(base)
				err := func() error {
					c, err := dialTLS(lctx, d, tcfg)
					if err != nil {
						return err
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
					if _, err := c.Write(msg); err != nil {
						return err
					}
					if _, err := io.ReadFull(c, in); err != nil {
						return err
					}
					if !bytes.Equal(in, msg) {
						return fmt.Errorf("echo mismatch: sent %q got %q", msg, in)
					}
					return nil
				}()
				p := phase.Load()
				if err != nil {
					if p == phaseStop || lctx.Err() != nil {
						return
					}
					failed.Add(1)
					errMu.Lock()
					if len(errSeen) < 5 {
						errSeen = append(errSeen, err.Error())
					}
					errMu.Unlock()
					continue
				}
				if p == phaseMeasure {
					hist.Record(int64(time.Since(base) - t0))
					done.Add(1)
				}
			}
		}()
	}
	w, completed := measureWindow(ctx, &res, cfg.ServerPID, cfg.Warmup, cfg.Duration, &phase)
	// Each worker ends its connection as usual (close_notify), within
	// tlsHandshakeTimeout; lctx ends only a run cut short.
	if !completed {
		cancel()
	}
	wg.Wait()
	if !completed {
		return res, ctx.Err()
	}
	n := done.Load()
	elapsed := w.t1.Sub(w.t0).Seconds()
	res.Metrics[MetricMsgs] = float64(n)
	res.Metrics[MetricTLSHandshakesPerSec] = float64(n) / elapsed
	res.Metrics[MetricTLSHandshakeErrors] = float64(failed.Load())
	for _, q := range []struct {
		key string
		p   float64
	}{{MetricP50Micros, 50}, {MetricP99Micros, 99}} {
		if v, ok := hist.Percentile(q.p); ok {
			res.Metrics[q.key] = micros(v)
		}
	}
	if cfg.ServerPID != 0 && w.cpu0.PID != 0 && w.cpu1.PID != 0 {
		cpu := (w.cpu1.CPUTime() - w.cpu0.CPUTime()).Seconds()
		res.Metrics[MetricServerCores] = cpu / elapsed
		if n > 0 {
			res.Metrics[MetricTLSCPUPerHandshake] = cpu * 1e6 / float64(n)
		}
	}
	if n == 0 {
		res.errorf("no handshake completed in the measured window")
	}
	if f := failed.Load(); f > 0 {
		res.errorf("%d handshakes failed: %s", f, strings.Join(errSeen, "; "))
	}
	return res, nil
}

// runTLSEcho is the echo scenario's request/response loop over TLS.
func runTLSEcho(ctx context.Context, cfg TLSConfig) (Result, error) {
	res := newResult(ScenarioTLSEcho)
	if cfg.Conns < 1 || cfg.Payload < 1 || cfg.Duration <= 0 {
		return res, errors.New("tls-echo: conns, payload and duration must be positive")
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	conns, err := dialTLSAll(ctx, d, cfg.Conns, max(cfg.DialParallel, 1), nil)
	if err != nil {
		return res, fmt.Errorf("tls-echo: dial: %w", err)
	}
	defer closeTLS(conns)
	res.Metrics[MetricConns] = float64(len(conns))
	e := &echoRun{cfg: EchoConfig{Payload: cfg.Payload, Window: 1, MaxMsgsPerConn: max(1000, 100_000_000/int64(cfg.Conns))},
		stop: make(chan struct{}), roundTrips: roundTrips{base: time.Now(), unit: "conn"}}
	w, completed := driveConns(ctx, &res, conns, cfg.ServerPID, cfg.Warmup, cfg.Duration, &e.phase,
		func(i int, c *tls.Conn) { e.pingPong(i, c) })
	close(e.stop)
	if !completed {
		return res, ctx.Err()
	}
	msgs := e.msgs.Load()
	putRoundTrips(&res, msgs, cfg.Payload, w.t1.Sub(w.t0).Seconds(), &e.hist, cfg.ServerPID, w.cpu0, w.cpu1)
	res.Metrics[MetricMismatches] = float64(e.mismatches.Load())
	if n := e.mismatches.Load(); n > 0 {
		res.errorf("%d echoed messages differed from what was sent", n)
	}
	if msgs == 0 {
		res.errorf("no message was echoed in the measured window")
	}
	for _, s := range e.ioErrs {
		res.errorf("%s", s)
	}
	return res, nil
}

// serverTLS is the side channel's tls reply.
type serverTLS struct {
	Handshakes uint64 `json:"handshakes"`
	Failed     uint64 `json:"failed"`
	Refused    uint64 `json:"refused"`
	InFlight   int64  `json:"in_flight"`
	Error      string `json:"error"`
}

func (t *serverTLS) replyError() string { return t.Error }

// queryTLS asks the side channel for the server's TLS counters.
func queryTLS(ctx context.Context, cc *controlClient) (serverTLS, error) {
	var t serverTLS
	err := queryJSON(ctx, cc, "tls", 10*time.Second, &t)
	return t, err
}

// dialSideChannel connects to the server's side channel (close records,
// which the tls servers never send, are drained).
func dialSideChannel(ctx context.Context, addr string) (*controlClient, func(), error) {
	closes := make(chan closeRecord, 64)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range closes {
		}
	}()
	cc, err := dialControl(ctx, addr, closes)
	if err != nil {
		close(closes)
		<-drained
		return nil, nil, err
	}
	return cc, func() { cc.close(); close(closes); <-drained }, nil
}

// parseSteps parses comma-separated ascending connection counts.
func parseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("steps %q: want ascending positive counts", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// runTLSIdle opens TLS connections in cumulative steps, echoes 8 bytes on
// each, lets the server settle and reads its RSS, then its live heap and
// stacks after a forced collection: the deltas over the readings before
// the first connection, per connection.
func runTLSIdle(ctx context.Context, cfg TLSConfig) (Result, error) {
	res := newResult(ScenarioTLSIdle)
	if cfg.ServerPID == 0 || cfg.Notify == "" {
		return res, errors.New("tls-idle: the server's pid and side channel are needed")
	}
	steps, err := parseSteps(cfg.Steps)
	if err != nil {
		return res, err
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	cc, closeCC, err := dialSideChannel(ctx, cfg.Notify)
	if err != nil {
		return res, err
	}
	defer closeCC()
	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	rss0, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	heap0, err := queryHeapStack(ctx, cc)
	if err != nil {
		return res, err
	}
	res.Metrics[MetricRSSBase] = float64(rss0) / (1 << 20)
	var all []*tls.Conn
	defer func() { closeTLS(all) }()
	open := 0
	for _, step := range steps {
		conns, err := dialTLSAll(ctx, d, step-open, max(cfg.DialParallel, 1), func(i int, c *tls.Conn) error {
			return pingOnce(c, open+i, time.Now().Add(10*time.Second))
		})
		if err != nil {
			return res, fmt.Errorf("tls-idle: opening connections %d..%d: %w", open+1, step, err)
		}
		all = append(all, conns...)
		open = step
		if !sleepCtx(ctx.Done(), cfg.Settle) {
			return res, ctx.Err()
		}
		rss, err := procfs.ReadRSS(cfg.ServerPID)
		if err != nil {
			return res, err
		}
		h, err := queryHeapStack(ctx, cc)
		if err != nil {
			return res, err
		}
		n := strconv.Itoa(step)
		res.Metrics[MetricRSSTotalPrefix+n] = float64(rss) / (1 << 20)
		res.Metrics[MetricRSSPerConnPfx+n] = float64(int64(rss)-int64(rss0)) / float64(step)
		hs := int64(h.HeapAlloc+h.StackInuse) - int64(heap0.HeapAlloc+heap0.StackInuse)
		res.Metrics[MetricTLSHeapPerConnPfx+n] = float64(hs) / float64(step)
		res.Metrics[MetricTLSGoroutinesPfx+n] = float64(h.Goroutines)
	}
	res.Metrics[MetricConns] = float64(open)
	return res, nil
}

// peekState tells whether the server has closed c: "open" (nothing to
// read), "closed" (EOF or a reset), without reading anything.
func peekState(c *net.TCPConn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return "closed"
	}
	state := "open"
	buf := make([]byte, 1)
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN):
		case err != nil, n == 0:
			state = "closed"
		}
		return true
	})
	return state
}

// dialHalfOpen makes n TCP connections that will never send anything, at
// most par connects in flight. A connect the server resets before it
// returns (accepted and refused at once) is counted, not an error.
func dialHalfOpen(ctx context.Context, d *Dialer, n, par int) (conns []*net.TCPConn, reset int, err error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr error
	)
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				c, err := d.Dial(ctx)
				mu.Lock()
				switch {
				case err == nil:
					conns = append(conns, c)
				case errors.Is(err, syscall.ECONNRESET):
					reset++
				case firstErr == nil:
					firstErr = err
				}
				mu.Unlock()
				if err != nil && !errors.Is(err, syscall.ECONNRESET) {
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, 0, firstErr
	}
	return conns, reset, nil
}

// halfOpenEchoers is the established connections that echo through the
// half-open attack, each one round trip per halfOpenEchoPeriod.
const (
	halfOpenEchoers    = 4
	halfOpenEchoPeriod = time.Millisecond
	halfOpenNewTries   = 10
)

// runTLSHalfOpen: a few established TLS connections echo 64 bytes each
// millisecond (before: 1 s); then Conns raw TCP connections are made that
// never send a ClientHello and held for Duration, during which fresh
// handshakes are tried; the half-open ones are counted (closed by the
// server at once: refused; still open: held), the server's RSS, heap and
// stacks compared with before, its CPU while they were made and held;
// then they are closed and one more handshake must succeed.
func runTLSHalfOpen(ctx context.Context, cfg TLSConfig) (Result, error) {
	res := newResult(ScenarioTLSHalfOpen)
	if cfg.Conns < 1 || cfg.Duration <= 0 || cfg.ServerPID == 0 || cfg.Notify == "" {
		return res, errors.New("tls-halfopen: conns, duration, the server's pid and side channel are needed")
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	cc, closeCC, err := dialSideChannel(ctx, cfg.Notify)
	if err != nil {
		return res, err
	}
	defer closeCC()
	echo, err := dialTLSAll(ctx, d, halfOpenEchoers, halfOpenEchoers, nil)
	if err != nil {
		return res, fmt.Errorf("tls-halfopen: established connections: %w", err)
	}
	defer closeTLS(echo)

	// The established echoers: phase warm-up = before the attack,
	// measure = during it, stop = done.
	var (
		phase          atomic.Int32
		before, during stats.Histogram
		maxDuring      atomic.Int64
		msgsDuring     atomic.Int64
		echoErrs       atomic.Int64
		wg             sync.WaitGroup
	)
	hard := time.Now().Add(cfg.Duration + 2*time.Minute)
	for i, c := range echo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(hard)
			out := message(i, 64)
			in := make([]byte, 64)
			for seq := uint64(0); seq < 10_000_000; seq++ {
				p := phase.Load()
				if p == phaseStop {
					return
				}
				putSeq(out, seq)
				t0 := time.Now()
				_, err := c.Write(out)
				if err == nil {
					_, err = io.ReadFull(c, in)
				}
				lat := time.Since(t0)
				if err != nil || !bytes.Equal(in, out) {
					if phase.Load() != phaseStop {
						echoErrs.Add(1)
					}
					return
				}
				if p == phaseWarmup {
					before.Record(int64(lat))
				} else {
					during.Record(int64(lat))
					msgsDuring.Add(1)
					for {
						m := maxDuring.Load()
						if int64(lat) <= m || maxDuring.CompareAndSwap(m, int64(lat)) {
							break
						}
					}
				}
				time.Sleep(halfOpenEchoPeriod)
			}
		}()
	}
	stopEchoers := func() {
		phase.Store(phaseStop)
		for _, c := range echo {
			_ = c.SetDeadline(time.Now())
		}
		wg.Wait()
	}
	defer stopEchoers()

	if !sleepCtx(ctx.Done(), time.Second) {
		return res, ctx.Err()
	}
	rss0, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	heap0, err := queryHeapStack(ctx, cc)
	if err != nil {
		return res, err
	}
	tls0, tlsErr := queryTLS(ctx, cc)
	cpu0, err := readStat(cfg.ServerPID)
	if err != nil {
		return res, err
	}

	// The attack: connect, never write.
	phase.Store(phaseMeasure)
	half, resetAtConnect, err := dialHalfOpen(ctx, d, cfg.Conns, max(cfg.DialParallel, 1))
	if err != nil {
		return res, fmt.Errorf("tls-halfopen: half-open connections: %w", err)
	}
	closeHalf := func() { closeAll(half); half = nil }
	defer func() { closeHalf() }()
	cpu1, err := readStat(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	res.Metrics[MetricTLSHOConns] = float64(cfg.Conns)
	res.Metrics[MetricTLSHOCPUPerConn] = (cpu1.CPUTime() - cpu0.CPUTime()).Seconds() * 1e6 / float64(cfg.Conns)
	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	rss1, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, err
	}

	// The hold: fresh handshakes are tried now and then.
	cpu2, err := readStat(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	t2 := time.Now()
	tcfg := tlsClientConfig()
	newOK := 0
	for range halfOpenNewTries {
		if !sleepCtx(ctx.Done(), cfg.Duration/halfOpenNewTries) {
			return res, ctx.Err()
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := dialTLS(hctx, d, tcfg)
		cancel()
		if err == nil {
			newOK++
			closeTLS([]*tls.Conn{c})
		}
	}
	cpu3, err := readStat(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	hold := time.Since(t2).Seconds()
	res.Metrics[MetricTLSHOHoldCorePct] = (cpu3.CPUTime() - cpu2.CPUTime()).Seconds() / hold * 100
	res.Metrics[MetricTLSHONewOK] = float64(newOK)
	res.Metrics[MetricTLSHONewTried] = halfOpenNewTries

	// The established echo's figures end here: the heap reading below
	// forces a collection, which the attack did not cause.
	phase.Store(phaseStop)
	stopEchoers()
	refused := resetAtConnect
	for _, c := range half {
		if peekState(c) == "closed" {
			refused++
		}
	}
	held := cfg.Conns - refused
	res.Metrics[MetricTLSHORefused] = float64(refused)
	res.Metrics[MetricTLSHOHeld] = float64(held)
	heap1, err := queryHeapStack(ctx, cc)
	if err != nil {
		return res, err
	}
	res.Metrics[MetricTLSHOGoroutines] = float64(heap1.Goroutines)
	rssDelta := int64(rss1) - int64(rss0)
	hsDelta := int64(heap1.HeapAlloc+heap1.StackInuse) - int64(heap0.HeapAlloc+heap0.StackInuse)
	res.Metrics[MetricTLSHORSSDelta] = float64(rssDelta) / (1 << 20)
	res.Metrics[MetricTLSHOHeapDelta] = float64(hsDelta) / (1 << 20)
	if held > 0 {
		res.Metrics[MetricTLSHORSSPerHeld] = float64(rssDelta) / float64(held)
		res.Metrics[MetricTLSHOHeapPerHeld] = float64(hsDelta) / float64(held)
	}
	for _, q := range []struct {
		h   *stats.Histogram
		key string
	}{{&before, MetricTLSHOP99Before}, {&during, MetricTLSHOP99During}} {
		if v, ok := q.h.Percentile(99); ok {
			res.Metrics[q.key] = micros(v)
		}
	}
	res.Metrics[MetricTLSHOMaxDuring] = micros(maxDuring.Load())
	res.Metrics[metricTLSHOEchoMsgs] = float64(msgsDuring.Load())
	res.Metrics[metricTLSHOEchoErrors] = float64(echoErrs.Load())
	if n := echoErrs.Load(); n > 0 {
		res.errorf("%d established connections failed their echo during the attack", n)
	}
	if msgsDuring.Load() == 0 {
		res.errorf("no established echo completed during the attack")
	}

	// The end: the half-open connections go (with a reset), the server
	// counts their handshakes failed, and serves a fresh one.
	closeHalf()
	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	if tlsErr == nil {
		if t1, err := queryTLS(ctx, cc); err == nil {
			res.Metrics[MetricTLSHOSrvRefused] = float64(t1.Refused - tls0.Refused)
			res.Metrics[MetricTLSHOSrvFailed] = float64(t1.Failed - tls0.Failed)
		}
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := dialTLS(hctx, d, tcfg)
	cancel()
	res.Metrics[MetricTLSHOAfterOK] = 0
	if err == nil {
		res.Metrics[MetricTLSHOAfterOK] = 1
		closeTLS([]*tls.Conn{c})
	} else {
		res.errorf("a handshake after the attack failed: %v", err)
	}
	return res, nil
}
