package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// HTTPConfig configures an HTTP/1.1 load: N keep-alive connections, each
// sending Depth "GET /plaintext" requests in one write (pipelined, as
// wrk's pipeline script does; Depth 1 is request/response), then reading
// the Depth responses, then the next batch.
type HTTPConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Conns is the number of connections; Depth the requests per batch.
	Conns, Depth int
	// Warmup runs before the measured window; Duration is the window.
	Warmup, Duration time.Duration
	// ServerPID, when not zero, is the server whose CPU time is read.
	ServerPID int
	// Sources is the number of source addresses to spread connections over.
	Sources int
	// DialParallel bounds concurrent dials.
	DialParallel int
	// MaxBatchesPerConn bounds the batches each connection sends.
	MaxBatchesPerConn int64
}

// httpRequest is the request of the load: TechEmpower's plaintext test.
const httpRequest = "GET /plaintext HTTP/1.1\r\nHost: bench\r\nAccept: text/plain\r\n\r\n"

// httpRun is the shared state of one HTTP run.
type httpRun struct {
	roundTrips
	cfg        HTTPConfig
	reqs       atomic.Int64
	mismatches atomic.Int64
}

// RunHTTP runs the http scenario. The figures are those of echo: requests
// (msgs) per second, the server's CPU per request, and the latency of a
// batch (its write to its last response).
func RunHTTP(ctx context.Context, cfg HTTPConfig) (Result, error) {
	res := newResult("http")
	if cfg.Conns < 1 || cfg.Depth < 1 || cfg.Duration <= 0 {
		return res, errors.New("http: conns, depth and duration must be positive")
	}
	if cfg.MaxBatchesPerConn <= 0 {
		cfg.MaxBatchesPerConn = max(1000, 50_000_000/int64(cfg.Conns*cfg.Depth))
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	conns, err := d.DialAll(ctx, cfg.Conns, max(cfg.DialParallel, 1), nil)
	if err != nil {
		return res, fmt.Errorf("http: dial: %w", err)
	}
	defer closeAll(conns)
	res.Metrics[MetricConns] = float64(len(conns))

	h := &httpRun{cfg: cfg, roundTrips: roundTrips{base: time.Now(), unit: "conn"}}
	w, completed := driveConns(ctx, &res, conns, cfg.ServerPID, cfg.Warmup, cfg.Duration, &h.phase, func(i int, c *net.TCPConn) { h.client(i, c) })
	if !completed {
		return res, ctx.Err()
	}
	reqs := h.reqs.Load()
	putRoundTrips(&res, reqs, 0, w.t1.Sub(w.t0).Seconds(), &h.hist, cfg.ServerPID, w.cpu0, w.cpu1)
	delete(res.Metrics, MetricMBPerSec)
	res.Metrics[MetricMismatches] = float64(h.mismatches.Load())
	if n := h.mismatches.Load(); n > 0 {
		res.errorf("%d responses were not 200 Hello, World!", n)
	}
	if reqs == 0 {
		h.emptyWindow(&res, "request was answered", w)
	}
	h.reportErrors(&res)
	return res, nil
}

// client is one connection's loop: a batch of Depth requests in one
// write, then its Depth responses. The first response is parsed in full
// (head, Content-Length); every later one of the connection must have the
// same length (the Date header is of fixed width) and is checked by its
// status line and body.
func (h *httpRun) client(i int, c net.Conn) {
	batch := bytes.Repeat([]byte(httpRequest), h.cfg.Depth)
	r := bufio.NewReaderSize(c, 64<<10)
	var local, all int64
	defer func() { h.reqs.Add(local); h.answered.Add(all) }()
	var buf []byte
	for n := int64(0); n < h.cfg.MaxBatchesPerConn; n++ {
		t := time.Since(h.base)
		if _, err := c.Write(batch); err != nil {
			h.ioError(i, err)
			return
		}
		for range h.cfg.Depth {
			if buf == nil {
				resp, err := readHTTPResponse(r)
				if err != nil {
					h.ioError(i, err)
					return
				}
				if !plaintextOK(resp) {
					h.mismatches.Add(1)
					continue
				}
				buf = make([]byte, len(resp))
				continue
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				h.ioError(i, err)
				return
			}
			if !plaintextOK(buf) {
				h.ioError(i, fmt.Errorf("unexpected response %q", buf))
				h.mismatches.Add(1)
				return // out of step: this connection is done
			}
		}
		lat := time.Since(h.base) - t
		all += int64(h.cfg.Depth)
		switch h.phase.Load() {
		case phaseMeasure:
			h.hist.Record(int64(lat))
			local += int64(h.cfg.Depth)
		case phaseStop:
			return
		}
	}
}

// plaintextOK reports whether resp is a 200 whose body is the plaintext
// test's.
func plaintextOK(resp []byte) bool {
	return bytes.HasPrefix(resp, []byte("HTTP/1.1 200 OK\r\n")) && bytes.HasSuffix(resp, []byte("\r\n\r\nHello, World!"))
}

// readHTTPResponse reads one response: its head, then Content-Length bytes.
func readHTTPResponse(r *bufio.Reader) ([]byte, error) {
	var resp []byte
	n := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		resp = append(resp, line...)
		if k, v, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return nil, fmt.Errorf("bad Content-Length %q", v)
			}
		}
		if len(line) == 2 && line[0] == '\r' {
			break
		}
		if len(resp) > 16<<10 {
			return nil, errors.New("response head over 16 KiB")
		}
	}
	if n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("response without a usable Content-Length: %q", resp)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(resp, body...), nil
}
