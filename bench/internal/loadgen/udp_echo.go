package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// UDPEchoConfig configures a UDP echo run: Peers client sockets (one
// server peer each), each sending a datagram of Payload bytes and waiting
// for its echo, one outstanding at a time.
type UDPEchoConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Peers is the number of client sockets.
	Peers int
	// Payload is the datagram size in bytes (at least 8: a sequence number
	// leads every datagram).
	Payload int
	// Warmup runs before the measured window; Duration is the window.
	Warmup, Duration time.Duration
	// LossTimeout is how long a client waits for an echo before it counts
	// the datagram lost and sends the next (default 200 ms).
	LossTimeout time.Duration
	// ServerPID, when not zero, is read for server CPU per datagram.
	ServerPID int
	// Sources is the number of source addresses to spread sockets over.
	Sources int
	// MaxPerPeer bounds the datagrams each socket sends.
	MaxPerPeer int64
}

// udpEchoRun is the shared state of one UDP echo run.
type udpEchoRun struct {
	roundTrips
	cfg        UDPEchoConfig
	msgs       atomic.Int64
	lost       atomic.Int64
	late       atomic.Int64
	mismatches atomic.Int64
}

// RunUDPEcho runs the UDP echo scenario. A lost datagram costs its client
// one LossTimeout and is counted; it never stops the run.
func RunUDPEcho(ctx context.Context, cfg UDPEchoConfig) (Result, error) {
	res := newResult("udp")
	if cfg.Peers < 1 || cfg.Payload < 8 || cfg.Duration <= 0 {
		return res, errors.New("udp echo: peers and duration must be positive, payload at least 8 bytes")
	}
	if cfg.LossTimeout <= 0 {
		cfg.LossTimeout = 200 * time.Millisecond
	}
	if cfg.MaxPerPeer <= 0 {
		cfg.MaxPerPeer = max(1000, 100_000_000/int64(cfg.Peers))
	}
	d, err := newUDPDialer(cfg.Target, cfg.Sources)
	if err != nil {
		return res, err
	}
	conns := make([]*net.UDPConn, 0, cfg.Peers)
	defer func() { closeUDP(conns) }()
	for i := range cfg.Peers {
		c, err := d.dial()
		if err != nil {
			return res, fmt.Errorf("udp echo: socket %d: %w", i+1, err)
		}
		conns = append(conns, c)
	}
	res.Metrics[MetricConns] = float64(len(conns))

	e := &udpEchoRun{cfg: cfg, roundTrips: roundTrips{base: time.Now(), unit: "peer"}}
	hardStop := time.Now().Add(cfg.Warmup + cfg.Duration + 15*time.Second)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); e.pingPong(i, c, hardStop) }()
	}
	w, completed := measureWindow(ctx, &res, cfg.ServerPID, cfg.Warmup, cfg.Duration, &e.phase)
	for _, c := range conns {
		_ = c.SetDeadline(time.Now())
	}
	wg.Wait()
	if !completed {
		return res, ctx.Err()
	}

	msgs := e.msgs.Load()
	putRoundTrips(&res, msgs, cfg.Payload, w.t1.Sub(w.t0).Seconds(), &e.hist, cfg.ServerPID, w.cpu0, w.cpu1)
	res.Metrics[MetricLostDatagrams] = float64(e.lost.Load())
	res.Metrics[MetricLateDatagrams] = float64(e.late.Load())
	res.Metrics[MetricMismatches] = float64(e.mismatches.Load())
	if n := e.mismatches.Load(); n > 0 {
		res.errorf("%d echoed datagrams differed from what was sent", n)
	}
	if msgs == 0 {
		e.emptyWindow(&res, "datagram was echoed", w)
	}
	if n := e.lost.Load(); n > 0 {
		res.notef("%d datagrams lost (no echo within %v) in the measured window", n, cfg.LossTimeout)
	}
	e.reportErrors(&res)
	return res, nil
}

// pingPong sends datagram after datagram on socket i, each after the echo
// of the previous one or its loss timeout.
func (e *udpEchoRun) pingPong(i int, c *net.UDPConn, hardStop time.Time) {
	out := message(i, e.cfg.Payload)
	in := make([]byte, e.cfg.Payload+64)
	var local, lost, all int64
	defer func() { e.msgs.Add(local); e.lost.Add(lost); e.answered.Add(all) }()
	for seq := int64(0); seq < e.cfg.MaxPerPeer; seq++ {
		if e.phase.Load() == phaseStop || time.Now().After(hardStop) {
			return
		}
		putSeq(out, uint64(seq))
		t := time.Since(e.base)
		if _, err := c.Write(out); err != nil {
			e.ioError(i, err)
			return
		}
		deadline := time.Now().Add(e.cfg.LossTimeout)
		if err := c.SetReadDeadline(deadline); err != nil {
			e.ioError(i, err)
			return
		}
		got := false
		for !got {
			n, err := c.Read(in)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // lost (or the run is stopping)
				}
				e.ioError(i, err)
				return
			}
			if n < 8 {
				e.mismatches.Add(1)
				continue
			}
			if s := int64(binary.LittleEndian.Uint64(in)); s != seq {
				e.late.Add(1) // the echo of a datagram already counted lost
				continue
			}
			got = true
			if n != len(out) || !bytes.Equal(in[:n], out) {
				e.mismatches.Add(1)
			}
		}
		lat := time.Since(e.base) - t
		if got {
			all++
		}
		switch e.phase.Load() {
		case phaseMeasure:
			if got {
				e.hist.Record(int64(lat))
				local++
			} else {
				lost++
			}
		case phaseStop:
			return
		}
	}
}
