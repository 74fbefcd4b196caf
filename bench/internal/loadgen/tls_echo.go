package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/stats"
)

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
		done    atomic.Int64 // handshakes completed in the window
		all     atomic.Int64 // in any phase: an empty window reports it
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
				all.Add(1)
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
		res.errorf("no handshake completed in the measured window (%v; %d over the whole run, warm-up included)",
			w.t1.Sub(w.t0).Round(time.Millisecond), all.Load())
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
	e.report(&res, cfg.Payload, w, cfg.ServerPID)
	return res, nil
}
