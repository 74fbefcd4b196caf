package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/stats"
	"github.com/sockactor/sockactor/bench/servers"
)

// BanConfig configures the receive-ban-under-fire run.
type BanConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Notify is the server's side channel, through which the ban is asked.
	Notify string
	// Conns is the number of streaming connections.
	Conns int
	// Chunk is the size of each write.
	Chunk int
	// Warmup is how long the connections stream before the ban; After is
	// how long they keep streaming once it is in place.
	Warmup, After time.Duration
	// Sources is the number of source addresses to spread connections over.
	Sources int
	// DialParallel bounds concurrent dials.
	DialParallel int
}

// RunBan streams data on many connections, asks the server to
// RecvDisconnect every one of them while the data is flowing, keeps
// streaming, and then collects the server handler's byte counters: the
// bytes it received after its ban reply must be zero.
func RunBan(ctx context.Context, cfg BanConfig) (Result, error) {
	res := newResult("ban")
	if cfg.Notify == "" {
		return res, errors.New("ban: the server's side channel (-notify) is needed")
	}
	if cfg.Chunk < 1 {
		cfg.Chunk = 4096
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
	conns, err := d.DialAll(ctx, cfg.Conns, max(cfg.DialParallel, 1), nil)
	if err != nil {
		return res, fmt.Errorf("ban: dial: %w", err)
	}
	defer closeAll(conns)
	res.Metrics[MetricConns] = float64(len(conns))

	var (
		stop      = make(chan struct{})
		banned    atomic.Bool
		sentAfter atomic.Int64
		sentTotal atomic.Int64
		wg        sync.WaitGroup
	)
	hardDeadline := time.Now().Add(cfg.Warmup + cfg.After + 30*time.Second)
	chunk := message(0, cfg.Chunk)
	const maxWritesPerConn = 10_000_000
	for _, c := range conns {
		_ = c.SetDeadline(hardDeadline)
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for range maxWritesPerConn {
				select {
				case <-stop:
					return
				default:
				}
				n, err := c.Write(chunk)
				sentTotal.Add(int64(n))
				if banned.Load() {
					sentAfter.Add(int64(n))
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // drain the echoes sent before the ban
			defer wg.Done()
			_, _ = io.Copy(io.Discard, c)
		}()
	}
	finish := func() {
		close(stop)
		for _, c := range conns {
			_ = c.SetDeadline(time.Now())
		}
		wg.Wait()
	}

	if !sleepCtx(ctx.Done(), cfg.Warmup) {
		finish()
		return res, ctx.Err()
	}
	reply, err := cc.command(ctx, "ban", 60*time.Second)
	banned.Store(true)
	if err != nil {
		finish()
		return res, fmt.Errorf("ban: %w", err)
	}
	var rep servers.BanReport
	if err := json.Unmarshal([]byte(reply), &rep); err != nil {
		finish()
		return res, fmt.Errorf("ban reply %q: %w", reply, err)
	}
	if e := serverError(reply); e != "" {
		finish()
		return res, fmt.Errorf("ban: server: %s", e)
	}
	sleepCtx(ctx.Done(), cfg.After)
	finish()
	// Let the last bytes in flight reach the server before asking.
	sleepCtx(ctx.Done(), 100*time.Millisecond)
	reply, err = cc.command(ctx, "stats", 30*time.Second)
	if err != nil {
		return res, fmt.Errorf("ban stats: %w", err)
	}
	var st servers.BanStats
	if err := json.Unmarshal([]byte(reply), &st); err != nil {
		return res, fmt.Errorf("stats reply %q: %w", reply, err)
	}

	rtts := make([]float64, len(rep.RTTNanos))
	for i, ns := range rep.RTTNanos {
		rtts[i] = micros(ns)
	}
	sort.Float64s(rtts)
	if p, ok := stats.PercentileSorted(rtts, 50); ok {
		res.Metrics[MetricBanRTTP50] = p
	}
	if p, ok := stats.PercentileSorted(rtts, 99); ok {
		res.Metrics[MetricBanRTTP99] = p
	}
	if len(rtts) > 0 {
		res.Metrics[MetricBanRTTMax] = rtts[len(rtts)-1]
	}
	res.Metrics[MetricBanned] = float64(rep.Banned)
	res.Metrics[MetricBanErrors] = float64(rep.Errors)
	res.Metrics[MetricAfterBan] = float64(st.AfterBanBytes)
	res.Metrics[MetricDuringBan] = float64(st.DuringBanBytes)
	res.Metrics[MetricBannedBytes] = float64(st.BannedBytes)
	res.Metrics[MetricSentAfter] = float64(sentAfter.Load()) / 1e6
	res.Metrics[MetricSentTotal] = float64(sentTotal.Load()) / 1e6
	res.Metrics[MetricHandlerBytes] = float64(st.HandlerBytes)
	if st.BannedBytes > 0 && st.BannedBytes+st.HandlerBytes > sentTotal.Load() {
		res.errorf("the runtime counts %d banned bytes plus %d handled, more than the %d the clients sent",
			st.BannedBytes, st.HandlerBytes, sentTotal.Load())
	}
	res.notef("%d RecvDisconnect calls, %d in flight at once", rep.Conns, rep.Concurrency)
	if rep.Errors > 0 {
		res.errorf("%d RecvDisconnect calls failed, first: %s", rep.Errors, rep.FirstError)
	}
	if st.AfterBanBytes != 0 {
		res.errorf("the handler received %d bytes after the ban took effect", st.AfterBanBytes)
	}
	if rep.Banned < len(conns) {
		res.errorf("only %d of %d streaming connections were banned (closed before the ban, by reason: %v)", rep.Banned, len(conns), rep.ClosedBefore)
	}
	return res, nil
}

// serverError returns the "error" field of a side-channel reply, if any.
func serverError(reply string) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(reply), &e)
	return e.Error
}
