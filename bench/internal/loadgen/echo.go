package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// EchoConfig configures an echo throughput and latency run.
type EchoConfig struct {
	// Network is "tcp" (the default when empty) or "unix".
	Network string
	// Target is the echo server's host:port (loopback only), or the path
	// of its unix socket.
	Target string
	// Conns is the number of connections.
	Conns int
	// Payload is the message size in bytes.
	Payload int
	// Window is the number of outstanding messages per connection: 1 is a
	// plain request/response loop, more is pipelined.
	Window int
	// Warmup runs before the measured window; Duration is the window.
	Warmup, Duration time.Duration
	// ServerPID, when not zero, is the server process whose CPU time is
	// read from /proc before and after the window.
	ServerPID int
	// Sources is the number of source addresses to spread connections over.
	Sources int
	// DialParallel bounds concurrent dials.
	DialParallel int
	// MaxMsgsPerConn bounds the messages each connection sends.
	MaxMsgsPerConn int64
}

// echo phases.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// echoRun is the shared state of one echo run.
type echoRun struct {
	roundTrips
	cfg        EchoConfig
	stop       chan struct{}
	msgs       atomic.Int64
	mismatches atomic.Int64
}

// message fills template bytes for connection i: an 8-byte sequence number
// followed by a pattern that differs per connection.
func message(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte((i*31 + j*7) % 251)
	}
	return b
}

func putSeq(b []byte, seq uint64) {
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, seq)
	}
}

// RunEcho runs the echo scenario.
func RunEcho(ctx context.Context, cfg EchoConfig) (Result, error) {
	res := newResult("echo")
	if cfg.Conns < 1 || cfg.Payload < 1 || cfg.Duration <= 0 {
		return res, errors.New("echo: conns, payload and duration must be positive")
	}
	if cfg.Window < 1 {
		cfg.Window = 1
	}
	if cfg.MaxMsgsPerConn <= 0 {
		cfg.MaxMsgsPerConn = max(1000, 100_000_000/int64(cfg.Conns))
	}
	conns, err := dialEcho(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("echo: dial: %w", err)
	}
	defer closeConns(conns)
	res.Metrics[MetricConns] = float64(len(conns))

	e := &echoRun{cfg: cfg, stop: make(chan struct{}), roundTrips: roundTrips{base: time.Now(), unit: "conn"}}
	// Safety net: no I/O may outlive the run by much.
	hardDeadline := time.Now().Add(cfg.Warmup + cfg.Duration + 15*time.Second)
	var wg sync.WaitGroup
	for i, c := range conns {
		_ = c.SetDeadline(hardDeadline)
		if cfg.Window == 1 {
			wg.Add(1)
			go func() { defer wg.Done(); e.pingPong(i, c) }()
		} else {
			wg.Add(2)
			stamps := make(chan int64, cfg.Window)
			go func() { defer wg.Done(); e.pipeWriter(i, c, stamps) }()
			go func() { defer wg.Done(); e.pipeReader(i, c, stamps) }()
		}
	}

	w, completed := measureWindow(ctx, &res, cfg.ServerPID, cfg.Warmup, cfg.Duration, &e.phase)
	close(e.stop)
	for _, c := range conns {
		_ = c.SetDeadline(time.Now())
	}
	wg.Wait()
	if !completed {
		return res, ctx.Err()
	}

	e.report(&res, cfg.Payload, w, cfg.ServerPID)
	return res, nil
}

// report puts an echo run's figures of the measured window w into res:
// the round trips, the mismatches, and the errors met (an empty window is
// one).
func (e *echoRun) report(res *Result, payload int, w window, serverPID int) {
	msgs := e.msgs.Load()
	putRoundTrips(res, msgs, payload, w.t1.Sub(w.t0).Seconds(), &e.hist, serverPID, w.cpu0, w.cpu1)
	res.Metrics[MetricMismatches] = float64(e.mismatches.Load())
	if n := e.mismatches.Load(); n > 0 {
		res.errorf("%d echoed messages differed from what was sent", n)
	}
	if msgs == 0 {
		e.emptyWindow(res, "message was echoed", w)
	}
	e.reportErrors(res)
}

// dialEcho opens the echo connections over cfg.Network.
func dialEcho(ctx context.Context, cfg EchoConfig) ([]net.Conn, error) {
	switch cfg.Network {
	case "", "tcp":
		d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
		if err != nil {
			return nil, err
		}
		tcs, err := d.DialAll(ctx, cfg.Conns, max(cfg.DialParallel, 1), nil)
		if err != nil {
			return nil, err
		}
		conns := make([]net.Conn, len(tcs))
		for i, c := range tcs {
			conns[i] = c
		}
		return conns, nil
	case "unix":
		return DialUnixAll(ctx, cfg.Target, cfg.Conns, max(cfg.DialParallel, 1), 10*time.Second)
	}
	return nil, fmt.Errorf("echo: network %q (tcp or unix)", cfg.Network)
}

// readStat reads the server's /proc stat, or returns the zero Stat when no
// pid is known.
// window is one measured window of a round-trip load: the server's CPU and
// the clock at its two ends.
type window struct {
	cpu0, cpu1 procfs.Stat
	t0, t1     time.Time
}

// measureWindow waits out warmup, then measures for duration, with phase
// at phaseMeasure during the window and phaseStop from its end on (also
// when ctx ends first, which it reports as completed == false). An error
// reading the server's CPU is recorded in res.
// driveConns runs client on each connection (a goroutine each, bounded by
// a hard deadline past the window), measures the window, then stops every
// client and waits for them.
func driveConns[C net.Conn](ctx context.Context, res *Result, conns []C, serverPID int, warmup, duration time.Duration, phase *atomic.Int32, client func(i int, c C)) (w window, completed bool) {
	hardDeadline := time.Now().Add(warmup + duration + 15*time.Second)
	var wg sync.WaitGroup
	for i, c := range conns {
		_ = c.SetDeadline(hardDeadline)
		wg.Add(1)
		go func() { defer wg.Done(); client(i, c) }()
	}
	w, completed = measureWindow(ctx, res, serverPID, warmup, duration, phase)
	for _, c := range conns {
		_ = c.SetDeadline(time.Now())
	}
	wg.Wait()
	return w, completed
}

func measureWindow(ctx context.Context, res *Result, serverPID int, warmup, duration time.Duration, phase *atomic.Int32) (w window, completed bool) {
	defer phase.Store(phaseStop)
	if !sleepCtx(ctx.Done(), warmup) {
		return w, false
	}
	var err error
	if w.cpu0, err = readStat(serverPID); err != nil {
		res.errorf("server cpu: %v", err)
	}
	w.t0 = time.Now()
	phase.Store(phaseMeasure)
	completed = sleepCtx(ctx.Done(), duration)
	phase.Store(phaseStop)
	w.t1 = time.Now()
	if w.cpu1, err = readStat(serverPID); err != nil {
		res.errorf("server cpu: %v", err)
	}
	return w, completed
}

// putRoundTrips records msgs request/response round trips of payload bytes
// measured over elapsed seconds: their rate, latency percentiles (hist), and
// the server's CPU between cpu0 and cpu1 (when serverPID is known).
func putRoundTrips(res *Result, msgs int64, payload int, elapsed float64, hist *stats.Histogram, serverPID int, cpu0, cpu1 procfs.Stat) {
	res.Metrics[MetricMsgs] = float64(msgs)
	res.Metrics[MetricMsgsPerSec] = float64(msgs) / elapsed
	res.Metrics[MetricMBPerSec] = float64(msgs) * float64(payload) / elapsed / 1e6
	for _, q := range []struct {
		key string
		p   float64
	}{{MetricP50Micros, 50}, {MetricP99Micros, 99}, {MetricP999Micros, 99.9}} {
		if v, ok := hist.Percentile(q.p); ok {
			res.Metrics[q.key] = micros(v)
		}
	}
	if serverPID != 0 && cpu1.PID != 0 && cpu0.PID != 0 {
		cpu := (cpu1.CPUTime() - cpu0.CPUTime()).Seconds()
		res.Metrics[MetricServerCores] = cpu / elapsed
		if msgs > 0 {
			res.Metrics[MetricCPUPerMsg] = cpu * 1e6 / float64(msgs)
		}
	}
}

func readStat(pid int) (procfs.Stat, error) {
	if pid == 0 {
		return procfs.Stat{}, nil
	}
	return procfs.ReadStat(pid)
}

// pingPong is the non-pipelined loop: one outstanding message.
func (e *echoRun) pingPong(i int, c net.Conn) {
	out := message(i, e.cfg.Payload)
	in := make([]byte, e.cfg.Payload)
	var local, all int64
	defer func() { e.msgs.Add(local); e.answered.Add(all) }()
	for seq := int64(0); seq < e.cfg.MaxMsgsPerConn; seq++ {
		putSeq(out, uint64(seq))
		t := time.Since(e.base)
		if _, err := c.Write(out); err != nil {
			e.ioError(i, err)
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			e.ioError(i, err)
			return
		}
		lat := time.Since(e.base) - t
		all++
		if !bytes.Equal(in, out) {
			e.mismatches.Add(1)
		}
		switch e.phase.Load() {
		case phaseMeasure:
			e.hist.Record(int64(lat))
			local++
		case phaseStop:
			return
		}
	}
}

// pipeWriter keeps up to Window messages outstanding on connection i.
func (e *echoRun) pipeWriter(i int, c net.Conn, stamps chan<- int64) {
	out := message(i, e.cfg.Payload)
	for seq := int64(0); seq < e.cfg.MaxMsgsPerConn; seq++ {
		select {
		case stamps <- int64(time.Since(e.base)):
		case <-e.stop:
			return
		}
		putSeq(out, uint64(seq))
		if _, err := c.Write(out); err != nil {
			e.ioError(i, err)
			return
		}
	}
}

// pipeReader reads the echoes of pipeWriter in order.
func (e *echoRun) pipeReader(i int, c net.Conn, stamps <-chan int64) {
	want := message(i, e.cfg.Payload)
	in := make([]byte, e.cfg.Payload)
	var local, all int64
	defer func() { e.msgs.Add(local); e.answered.Add(all) }()
	for seq := int64(0); seq < e.cfg.MaxMsgsPerConn; seq++ {
		if _, err := io.ReadFull(c, in); err != nil {
			e.ioError(i, err)
			return
		}
		var sent int64
		select {
		case sent = <-stamps:
		case <-e.stop:
			return
		}
		lat := int64(time.Since(e.base)) - sent
		all++
		putSeq(want, uint64(seq))
		if !bytes.Equal(in, want) {
			e.mismatches.Add(1)
		}
		switch e.phase.Load() {
		case phaseMeasure:
			e.hist.Record(lat)
			local++
		case phaseStop:
			return
		}
	}
}
