package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// UDPChurnConfig configures a UDP peer-churn run: Peers client sockets
// each send one datagram (and wait for its echo), then go silent; the
// server, started with a short peer idle timeout, ends them.
type UDPChurnConfig struct {
	// Target is the server's host:port (loopback only).
	Target string
	// Notify is the server's side channel, for its peer counters (the
	// peers command); without it, or on a server with no peer table, the
	// expiry is not measured.
	Notify string
	// Peers is the number of client sockets (peers to create).
	Peers int
	// Parallel bounds the sockets sending their datagram at once.
	Parallel int
	// Payload is the datagram size (at least 8).
	Payload int
	// Settle is the pause before each RSS reading; it must be well under
	// PeerIdle so that every peer is still live at the reading.
	Settle time.Duration
	// PeerIdle is the server's peer idle timeout; the expiry wait lasts
	// PeerIdle plus ExpiryGrace after the last peer's datagram.
	PeerIdle    time.Duration
	ExpiryGrace time.Duration
	// LossTimeout is the wait for an echo; a datagram is retried up to
	// Retries times before the peer counts as lost.
	LossTimeout time.Duration
	Retries     int
	// ServerPID is the process whose RSS and CPU time are read; required.
	ServerPID int
	// Sources is the number of source addresses to spread sockets over.
	Sources int
}

// RunUDPChurn creates Peers peers as fast as Parallel senders go (the
// peer creation rate and server CPU per peer), keeps them idle and reads
// the server's RSS (RSS per live idle peer), then waits for the server to
// time them out, polling its peer counters over the side channel.
func RunUDPChurn(ctx context.Context, cfg UDPChurnConfig) (Result, error) {
	res := newResult("udpchurn")
	if cfg.ServerPID == 0 {
		return res, errors.New("udp churn: the server's pid is needed to read its RSS")
	}
	if cfg.Peers < 1 || cfg.Payload < 8 {
		return res, errors.New("udp churn: peers must be positive, payload at least 8 bytes")
	}
	if cfg.Parallel < 1 {
		cfg.Parallel = 32
	}
	if cfg.LossTimeout <= 0 {
		cfg.LossTimeout = 250 * time.Millisecond
	}
	if cfg.ExpiryGrace <= 0 {
		cfg.ExpiryGrace = 3 * time.Second
	}
	d, err := newUDPDialer(cfg.Target, cfg.Sources)
	if err != nil {
		return res, err
	}
	var cc *controlClient
	if cfg.Notify != "" {
		if cc, err = dialControl(ctx, cfg.Notify, nil); err != nil {
			return res, err
		}
		defer cc.close()
	}
	peerStats := func() (peerCounters, bool) {
		if cc == nil {
			return peerCounters{}, false
		}
		pc, err := queryPeers(ctx, cc)
		if err != nil {
			if !errors.Is(err, errNoPeerTable) {
				res.Metrics[metricPeerStatsErr]++
				res.errorf("peers: %v", err)
			}
			return peerCounters{}, false
		}
		return pc, true
	}
	before, table := peerStats()
	if table {
		res.Metrics[MetricPeerTableKnown] = 1
	} else {
		res.notef("the server reports no peer table: peer expiry not measured")
	}

	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	base, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("udp churn: %w", err)
	}
	res.Metrics[MetricRSSBase] = float64(base) / (1 << 20)
	cpu0, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("udp churn: %w", err)
	}

	// Create the peers: Parallel senders, each taking the next socket.
	conns := make([]*net.UDPConn, cfg.Peers)
	defer func() { closeUDP(conns) }()
	var (
		next     atomic.Int64
		answered atomic.Int64
		lostN    atomic.Int64
		wg       sync.WaitGroup
		emu      sync.Mutex
		firstErr error
	)
	hardStop := time.Now().Add(time.Duration(cfg.Peers)*time.Millisecond + 30*time.Second)
	t0 := time.Now()
	for range min(cfg.Parallel, cfg.Peers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := make([]byte, cfg.Payload+64)
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Peers || ctx.Err() != nil || time.Now().After(hardStop) {
					return
				}
				c, err := d.dial()
				if err != nil {
					emu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("socket %d of %d: %w", i+1, cfg.Peers, err)
					}
					emu.Unlock()
					return
				}
				conns[i] = c
				ok, err := sendOnce(c, message(i, cfg.Payload), in, cfg.LossTimeout, cfg.Retries)
				switch {
				case err != nil:
					emu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("peer %d: %w", i+1, err)
					}
					emu.Unlock()
					return
				case ok:
					answered.Add(1)
				default:
					lostN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t1 := time.Now()
	cpu1, cerr := procfs.ReadStat(cfg.ServerPID)
	if firstErr != nil {
		return res, fmt.Errorf("udp churn: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	n := answered.Load()
	res.Metrics[MetricPeers] = float64(n)
	res.Metrics[MetricPeerLost] = float64(lostN.Load())
	res.Metrics[MetricPeersPerSec] = float64(n) / t1.Sub(t0).Seconds()
	if cerr == nil && n > 0 {
		res.Metrics[MetricCPUPerPeer] = (cpu1.CPUTime() - cpu0.CPUTime()).Seconds() * 1e6 / float64(n)
	}
	if l := lostN.Load(); l > 0 {
		res.errorf("%d of %d peers got no echo after %d tries of %v", l, cfg.Peers, cfg.Retries+1, cfg.LossTimeout)
	}

	// Idle: every peer is live (its last datagram is at most the creation
	// time old, well under the idle timeout) while the RSS is read.
	if !sleepCtx(ctx.Done(), cfg.Settle) {
		return res, ctx.Err()
	}
	rss, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("udp churn: %w", err)
	}
	sfx := fmt.Sprint(cfg.Peers)
	res.Metrics[MetricRSSPeersPfx+sfx] = float64(rss) / (1 << 20)
	res.Metrics[MetricRSSPerPeerPfx+sfx] = float64(rss-base) / float64(cfg.Peers)
	idleAt := time.Now()
	if cfg.PeerIdle > 0 && idleAt.Sub(t0) >= cfg.PeerIdle {
		res.errorf("creating the peers and settling took %v, not under the peer idle timeout %v: early peers may have expired before the RSS reading",
			idleAt.Sub(t0).Round(time.Millisecond), cfg.PeerIdle)
	}
	if !table {
		return res, nil
	}
	live, ok := peerStats()
	if !ok {
		return res, nil
	}
	res.Metrics[MetricLivePeers] = float64(live.open - before.open)
	if got := live.open - before.open; got < n {
		res.errorf("only %d of %d peers live at the RSS reading", got, n)
	}

	// Expiry: wait for the server to close every peer.
	deadline := t1.Add(cfg.PeerIdle + cfg.ExpiryGrace)
	var last peerCounters
	for {
		pc, ok := peerStats()
		if !ok {
			return res, nil
		}
		last = pc
		if pc.closed-before.closed >= n {
			res.Metrics[MetricExpireAllSecs] = time.Since(t1).Seconds()
			break
		}
		if time.Now().After(deadline) || !sleepCtx(ctx.Done(), peerStatsPoll) {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Metrics[MetricExpired] = float64(last.closed - before.closed)
	res.Metrics[MetricExpiredTimeout] = float64(last.timeout - before.timeout)
	if got := last.closed - before.closed; got < n {
		res.errorf("%d of %d peers not closed %v after their last datagram (peer idle timeout %v)",
			n-got, n, time.Since(t1).Round(time.Millisecond), cfg.PeerIdle)
	}
	return res, nil
}

// sendOnce sends msg on c and waits for its echo, retrying up to retries
// times after a loss timeout. It reports whether the echo came.
func sendOnce(c *net.UDPConn, msg, in []byte, lossTimeout time.Duration, retries int) (bool, error) {
	for range max(retries, 0) + 1 {
		if _, err := c.Write(msg); err != nil {
			return false, err
		}
		if err := c.SetReadDeadline(time.Now().Add(lossTimeout)); err != nil {
			return false, err
		}
		n, err := c.Read(in)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return false, err
		}
		if n != len(msg) || !bytes.Equal(in[:n], msg) {
			return false, fmt.Errorf("echo mismatch: sent %d bytes, got %d", len(msg), n)
		}
		return true, nil
	}
	return false, nil
}
