package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// IdleConfig configures an idle-memory run.
type IdleConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Steps are cumulative connection counts, ascending: the server's RSS
	// is read after each.
	Steps []int
	// ServerPID is the process whose RSS is read; required.
	ServerPID int
	// Settle is the pause before each RSS reading.
	Settle time.Duration
	// Sources is the number of source addresses to spread connections over.
	Sources int
	// DialParallel bounds concurrent dials.
	DialParallel int
}

// RunIdle opens connections in cumulative steps, echoes one small message on
// each, lets the server settle and reads its RSS: the delta over the
// baseline divided by the connection count is the idle cost of one
// connection.
func RunIdle(ctx context.Context, cfg IdleConfig) (Result, error) {
	res := newResult("idle")
	if cfg.ServerPID == 0 {
		return res, errors.New("idle: the server's pid is needed to read its RSS")
	}
	d, err := NewDialer(cfg.Target, cfg.Sources, 10*time.Second)
	if err != nil {
		return res, err
	}
	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	base, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	res.Metrics[MetricRSSBase] = float64(base) / (1 << 20)

	var all []*net.TCPConn
	defer func() { closeAll(all) }()
	open := 0
	for _, step := range cfg.Steps {
		if step <= open {
			continue
		}
		conns, err := d.DialAll(ctx, step-open, max(cfg.DialParallel, 1), func(i int, c *net.TCPConn) error {
			return pingOnce(c, open+i, time.Now().Add(10*time.Second))
		})
		if err != nil {
			return res, fmt.Errorf("idle: opening connections %d..%d: %w", open+1, step, err)
		}
		all = append(all, conns...)
		open = step
		if !sleepCtx(ctx.Done(), cfg.Settle) {
			return res, ctx.Err()
		}
		rss, err := procfs.ReadRSS(cfg.ServerPID)
		if err != nil {
			return res, fmt.Errorf("idle: %w", err)
		}
		n := strconv.Itoa(step)
		res.Metrics[MetricRSSTotalPrefix+n] = float64(rss) / (1 << 20)
		res.Metrics[MetricRSSPerConnPfx+n] = float64(rss-base) / float64(step)
	}
	res.Metrics[MetricConns] = float64(open)
	return res, nil
}

// pingOnce echoes one 8-byte message on c and checks it.
func pingOnce(c net.Conn, i int, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	msg := []byte(fmt.Sprintf("i%07d", i%10_000_000))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo mismatch: sent %q got %q", msg, got)
	}
	return c.SetDeadline(time.Time{})
}
