package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// RESPConfig configures a RESP (Redis protocol) run: Conns connections,
// each sending batches of Depth commands in one write and reading the
// Depth replies before the next batch (redis-benchmark's -P): SET and GET
// in turn on the connection's own key, a Payload-byte value.
type RESPConfig struct {
	Target           string
	Conns, Depth     int
	Payload          int
	Warmup, Duration time.Duration
	ServerPID        int
	Sources          int
	DialParallel     int
	// MaxBatchesPerConn bounds the batches each connection sends.
	MaxBatchesPerConn int64
}

// respCmd encodes args as a RESP array of bulk strings.
func respCmd(b *strings.Builder, args ...string) {
	fmt.Fprintf(b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(b, "$%d\r\n%s\r\n", len(a), a)
	}
}

// respBatches returns connection i's two batches of depth commands, the
// one that starts with a SET and the one that starts with a GET (an odd
// depth alternates them), and the replies each must get, byte for byte.
func respBatches(i, depth, payload int) (reqs, replies [2][]byte) {
	key := fmt.Sprintf("bench:%d", i)
	val := string(message(i, payload))
	for start := range 2 {
		var q, r strings.Builder
		for j := range depth {
			if (start+j)%2 == 0 {
				respCmd(&q, "SET", key, val)
				r.WriteString("+OK\r\n")
			} else {
				respCmd(&q, "GET", key)
				fmt.Fprintf(&r, "$%d\r\n%s\r\n", len(val), val)
			}
		}
		reqs[start], replies[start] = []byte(q.String()), []byte(r.String())
	}
	return reqs, replies
}

// RunRESP runs the resp scenario. Each connection's first command is a
// SET, so every GET finds the value it checks.
func RunRESP(ctx context.Context, cfg RESPConfig) (Result, error) {
	res := newResult("resp")
	if cfg.Conns < 1 || cfg.Depth < 1 || cfg.Payload < 1 || cfg.Duration <= 0 {
		return res, errors.New("resp: conns, depth, payload and duration must be positive")
	}
	if cfg.MaxBatchesPerConn <= 0 {
		cfg.MaxBatchesPerConn = max(1000, 100_000_000/int64(cfg.Conns*cfg.Depth))
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	conns, err := d.DialAll(ctx, cfg.Conns, max(cfg.DialParallel, 1), nil)
	if err != nil {
		return res, fmt.Errorf("resp: dial: %w", err)
	}
	defer closeAll(conns)
	res.Metrics[MetricConns] = float64(len(conns))

	r := &respRun{cfg: cfg, roundTrips: roundTrips{base: time.Now(), unit: "conn"}}
	w, completed := driveConns(ctx, &res, conns, cfg.ServerPID, cfg.Warmup, cfg.Duration, &r.phase, func(i int, c *net.TCPConn) { r.client(i, c) })
	if !completed {
		return res, ctx.Err()
	}
	reqs := r.reqs.Load()
	putRoundTrips(&res, reqs, cfg.Payload, w.t1.Sub(w.t0).Seconds(), &r.hist, cfg.ServerPID, w.cpu0, w.cpu1)
	res.Metrics[MetricMismatches] = float64(r.bad.Load())
	if n := r.bad.Load(); n > 0 {
		res.errorf("%d batches got replies other than Redis's", n)
	}
	if reqs == 0 {
		r.emptyWindow(&res, "request was answered", w)
	}
	r.reportErrors(&res)
	return res, nil
}

// respRun is the shared state of one RESP run.
type respRun struct {
	roundTrips
	cfg  RESPConfig
	reqs atomic.Int64 // requests answered in the window
	bad  atomic.Int64 // batches whose replies differed
}

// client is connection i's loop: a batch, its replies, checked; again,
// until the window ends or MaxBatchesPerConn.
func (r *respRun) client(i int, c net.Conn) {
	reqs, replies := respBatches(i, r.cfg.Depth, r.cfg.Payload)
	br := bufio.NewReaderSize(c, 64<<10)
	got := make([]byte, max(len(replies[0]), len(replies[1])))
	var local, all int64
	defer func() { r.reqs.Add(local); r.answered.Add(all) }()
	for b := int64(0); b < r.cfg.MaxBatchesPerConn; b++ {
		k := int(b*int64(r.cfg.Depth)) % 2 // odd depths alternate the batches
		t := time.Since(r.base)
		if _, err := c.Write(reqs[k]); err != nil {
			r.ioError(i, err)
			return
		}
		got = got[:len(replies[k])]
		if _, err := io.ReadFull(br, got); err != nil {
			r.ioError(i, err)
			return
		}
		lat := time.Since(r.base) - t
		all += int64(r.cfg.Depth)
		if !bytes.Equal(got, replies[k]) {
			r.bad.Add(1)
			r.ioError(i, fmt.Errorf("replies %.80q, want %.80q", got, replies[k]))
			return // the stream is out of step
		}
		switch r.phase.Load() {
		case phaseMeasure:
			r.hist.Record(int64(lat))
			local += int64(r.cfg.Depth)
		case phaseStop:
			return
		}
	}
}
