package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// Back-pressure: producers that write as fast as TCP lets them into a
// server whose application reads slower (a slow-consumer server). The
// server must hold its peers back by flow control, not buffer what they
// send nor close them: what it holds (its peak RSS) at the consumer's rate
// is the figure.

// Metric keys of the backpressure scenario.
const (
	MetricBPThroughput   = "bp_consumed_mb_per_s"  // bytes the server's application took per second of the window, MB (10^6)
	MetricBPConsumerRate = "bp_consumer_mb_per_s"  // the consumer's configured rate, all connections, MB/s
	MetricBPSentRate     = "bp_sent_mb_per_s"      // bytes the producers wrote per second of the window, MB
	MetricBPPeakRSS      = "bp_rss_peak_mb"        // the server's peak RSS (VmHWM) at the end, MiB
	MetricBPPeakDelta    = "bp_rss_peak_delta_mb"  // that peak − the RSS before the first connection, MiB
	MetricBPPeakVsStdlib = "bp_rss_peak_vs_stdlib" // the peak ÷ stdlib's in the same round (derived by the harness)
	MetricBPCloses       = "bp_closes"             // connections closed or reset before the run ended them: must be 0
)

// bpChunk is one producer write.
const bpChunk = 256 << 10

// consumeChunk is the servers' consumer bite (servers.ConsumeChunk): the
// unit of the consumer's rate.
const consumeChunk = 64 << 10

// BackpressureConfig configures a back-pressure run.
type BackpressureConfig struct {
	// Target is the server's host:port (loopback).
	Target string
	// Notify is the server's side channel: its consumer's counters.
	Notify string
	// Conns is the number of producer connections.
	Conns int
	// ConsumePeriod is the server's time per 64 KiB on each connection:
	// the consumer's rate, which the throughput must match.
	ConsumePeriod time.Duration
	// Warmup runs before the measured window: the buffers on the way
	// fill and the server settles into its pauses.
	Warmup, Duration time.Duration
	// ServerPID is the process whose RSS and CPU time are read; required.
	ServerPID int
	// Sources is the number of source addresses to spread connections over.
	Sources int
}

// consumedReply is the server's reply to the consumed command.
type consumedReply struct {
	Bytes  int64  `json:"bytes"`
	Conns  int64  `json:"conns"`
	Closed int64  `json:"closed"`
	Error  string `json:"error"`
}

// queryConsumed asks the side channel for the consumer's counters.
func queryConsumed(ctx context.Context, cc *controlClient) (consumedReply, error) {
	line, err := cc.command(ctx, "consumed", 10*time.Second)
	if err != nil {
		return consumedReply{}, err
	}
	var r consumedReply
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, fmt.Errorf("consumed reply %q: %w", line, err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}

// RunBackpressure connects the producers, lets them write as fast as the
// server takes their bytes through the warm-up and the window, and reports
// the rates (the application's and the producers'), the server's peak RSS
// and the connections that did not survive.
func RunBackpressure(ctx context.Context, cfg BackpressureConfig) (Result, error) {
	res := newResult("backpressure")
	switch {
	case cfg.ServerPID == 0:
		return res, errors.New("backpressure: the server's pid is needed")
	case cfg.Notify == "":
		return res, errors.New("backpressure: the server's side channel is needed (its consumer's counters)")
	case cfg.Conns < 1 || cfg.Duration <= 0 || cfg.ConsumePeriod <= 0:
		return res, errors.New("backpressure: conns, duration and consume period must be positive")
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	cc, err := dialControl(ctx, cfg.Notify, nil)
	if err != nil {
		return res, err
	}
	defer cc.close()
	if _, err := queryConsumed(ctx, cc); err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	base, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	res.Metrics[MetricRSSBase] = float64(base) / (1 << 20)

	conns, err := d.DialAll(ctx, cfg.Conns, 64, nil)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	var (
		stopping atomic.Bool
		written  atomic.Int64
		failed   atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	buf := make([]byte, bpChunk)
	for i := range buf {
		buf[i] = byte(i % 251)
	}
	for _, c := range conns {
		wg.Add(1)
		go func(c *net.TCPConn) { // one producer: as fast as TCP lets it
			defer wg.Done()
			for !stopping.Load() {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				n, err := c.Write(buf)
				written.Add(int64(n))
				var ne net.Error
				if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
					if !stopping.Load() {
						failed.Add(1)
						msg := err.Error()
						firstErr.CompareAndSwap(nil, &msg)
					}
					return
				}
			}
		}(c)
	}
	stop := func() {
		stopping.Store(true)
		closeAll(conns)
		wg.Wait()
	}
	defer stop()

	if !sleepCtx(ctx.Done(), cfg.Warmup) {
		return res, ctx.Err()
	}
	q0, err := queryConsumed(ctx, cc)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	w0, t0 := written.Load(), time.Now()
	cpu0, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	if !sleepCtx(ctx.Done(), cfg.Duration) {
		return res, ctx.Err()
	}
	q1, err := queryConsumed(ctx, cc)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	w1, wall := written.Load(), time.Since(t0).Seconds()
	cpu1, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}
	peak, err := procfs.ReadPeakRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("backpressure: %w", err)
	}

	consumer := float64(cfg.Conns) * consumeChunk / cfg.ConsumePeriod.Seconds() / 1e6
	got := float64(q1.Bytes-q0.Bytes) / wall / 1e6
	res.Metrics[MetricBPThroughput] = got
	res.Metrics[MetricBPConsumerRate] = consumer
	res.Metrics[MetricBPSentRate] = float64(w1-w0) / wall / 1e6
	res.Metrics[MetricBPPeakRSS] = float64(peak) / (1 << 20)
	res.Metrics[MetricBPPeakDelta] = float64(peak-base) / (1 << 20)
	res.Metrics[MetricServerCores] = (cpu1.CPUTime() - cpu0.CPUTime()).Seconds() / wall
	res.Metrics[MetricConns] = float64(q1.Conns)
	closes := max(q1.Closed, failed.Load())
	res.Metrics[MetricBPCloses] = float64(closes)
	if closes > 0 {
		detail := ""
		if e := firstErr.Load(); e != nil {
			detail = ": " + *e
		}
		res.errorf("%d connections closed during the run (the server counted %d, the producers %d)%s", closes, q1.Closed, failed.Load(), detail)
	}
	if q1.Conns < int64(cfg.Conns) {
		res.errorf("the server accepted %d of %d connections", q1.Conns, cfg.Conns)
	}
	// The figures compare servers at the consumer's rate: a throughput off
	// it means the producers did not keep the consumer busy, or the
	// consumer could not keep its pace.
	if got < 0.9*consumer || got > 1.1*consumer {
		res.errorf("throughput %.1f MB/s is not the consumer's %.1f MB/s", got, consumer)
	}
	return res, nil
}
