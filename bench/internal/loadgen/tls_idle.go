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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

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
	rss0, heap0, err := serverMemory(ctx, cc, cfg.ServerPID)
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
		rss, h, err := serverMemory(ctx, cc, cfg.ServerPID)
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
	rss0, heap0, err := serverMemory(ctx, cc, cfg.ServerPID)
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
