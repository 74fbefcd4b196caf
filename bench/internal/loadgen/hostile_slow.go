package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// SlowConfig configures a slow-reader run: Peers connections to a
// flood-writer server that never read a byte, then a quiet window in
// which nothing happens and the server's CPU time is read.
type SlowConfig struct {
	// Target is the server's host:port (IPv4 loopback).
	Target string
	// Notify is the server's side channel, for a sockactor server's
	// refused-write count; optional.
	Notify string
	// Peers is the number of connections.
	Peers int
	// Window is the quiet window whose CPU time is measured.
	Window time.Duration
	// SettleMax bounds the wait for the kernel queues to stop growing;
	// Stable is how long they must stay unchanged (default 500 ms).
	SettleMax, Stable time.Duration
	// RcvBuf and MSS are set on every peer before it connects (defaults
	// 16 KiB and 1400 B): a small window and loopback's 64 KiB segments
	// replaced by Ethernet-sized ones, so that the server's send buffer
	// autotunes to about 150 KB and not to tcp_wmem's maximum (4 MB here):
	// thousands of peers then stay inside the kernel's TCP memory limits.
	RcvBuf, MSS int
	// ServerPID is the process whose CPU time and RSS are read; required.
	ServerPID int
	// Sources is the number of source addresses to spread peers over.
	Sources int
	// DialParallel bounds concurrent dials.
	DialParallel int
}

// RunSlowReaders connects the peers, waits until the server has filled
// every kernel buffer it can (the server's queued bytes stop growing),
// then measures the server's CPU time over a quiet window and its RSS per
// peer.
func RunSlowReaders(ctx context.Context, cfg SlowConfig) (Result, error) {
	res := newResult("slow")
	if cfg.ServerPID == 0 {
		return res, errors.New("slow readers: the server's pid is needed")
	}
	if cfg.Peers < 1 || cfg.Window <= 0 {
		return res, errors.New("slow readers: peers and window must be positive")
	}
	if cfg.Stable <= 0 {
		cfg.Stable = 500 * time.Millisecond
	}
	if cfg.SettleMax <= 0 {
		cfg.SettleMax = 20*time.Second + time.Duration(cfg.Peers)*2*time.Millisecond
	}
	if cfg.RcvBuf <= 0 {
		cfg.RcvBuf = 16 << 10
	}
	if cfg.MSS <= 0 {
		cfg.MSS = 1400
	}
	target, err := ResolveLoopback(cfg.Target)
	if err != nil {
		return res, err
	}
	server, ok := procfs.ProcAddr(target.AddrPort())
	if !ok {
		return res, fmt.Errorf("slow readers: %s is not IPv4 (the kernel queues are read from /proc/net/tcp)", cfg.Target)
	}
	var cc *controlClient
	if cfg.Notify != "" {
		if cc, err = dialControl(ctx, cfg.Notify, nil); err != nil {
			return res, err
		}
		defer cc.close()
	}
	refused := func() (int64, bool) {
		if cc == nil {
			return 0, false
		}
		st, err := queryHostilePeers(ctx, cc)
		if err != nil {
			if !errors.Is(err, errNoPeerTable) {
				res.errorf("peers: %v", err)
			}
			return 0, false
		}
		return int64(st.SendsRefused), true
	}
	refused0, counted := refused()

	if !sleepCtx(ctx.Done(), 200*time.Millisecond) {
		return res, ctx.Err()
	}
	base, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("slow readers: %w", err)
	}
	res.Metrics[MetricRSSBase] = float64(base) / (1 << 20)

	conns, err := dialParallel(ctx, cfg.Peers, max(cfg.DialParallel, 1), slowDialer(target, cfg), nil, closeAll)
	defer func() { closeAll(conns) }()
	if err != nil {
		return res, fmt.Errorf("slow readers: %w", err)
	}
	t0 := time.Now()

	// Settle: every peer has bytes waiting and the kernel's total has not
	// moved for Stable.
	var (
		last     procfs.TCPQueues
		lastSum  int64 = -1
		since    time.Time
		settled  bool
		deadline = t0.Add(cfg.SettleMax)
	)
	for time.Now().Before(deadline) {
		q, err := procfs.ReadTCPQueues(server)
		if err != nil {
			return res, fmt.Errorf("slow readers: %w", err)
		}
		sum := q.ServerTx + q.PeerRx
		if sum != lastSum || q.PeerNonEmpty < cfg.Peers {
			lastSum, since = sum, time.Now()
		} else if time.Since(since) >= cfg.Stable {
			settled = true
		}
		last = q
		if settled {
			break
		}
		if !sleepCtx(ctx.Done(), 100*time.Millisecond) {
			return res, ctx.Err()
		}
	}
	res.Metrics[MetricSettleSecs] = since.Sub(t0).Seconds()
	if !settled {
		res.errorf("the kernel queues did not settle within %v (%d of %d peers with bytes waiting, %d B held): the window is not quiet",
			cfg.SettleMax, last.PeerNonEmpty, cfg.Peers, last.ServerTx+last.PeerRx)
	}
	res.Metrics[MetricSlowPeers] = float64(last.PeerNonEmpty)
	res.Metrics[MetricKernelPerPeer] = float64(last.ServerTx+last.PeerRx) / float64(cfg.Peers) / 1e3

	// The quiet window: nothing happens on any connection.
	cpu0, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("slow readers: %w", err)
	}
	w0 := time.Now()
	if !sleepCtx(ctx.Done(), cfg.Window) {
		return res, ctx.Err()
	}
	cpu1, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("slow readers: %w", err)
	}
	wall := time.Since(w0).Seconds()
	rss, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("slow readers: %w", err)
	}
	cpu := (cpu1.CPUTime() - cpu0.CPUTime()).Seconds()
	res.Metrics[MetricQuietSecs] = wall
	res.Metrics[MetricServerCores] = cpu / wall
	res.Metrics[MetricIdleCorePct] = 100 * cpu / wall
	res.Metrics[MetricIdleCPUPerPeer] = cpu * 1e6 / wall / float64(cfg.Peers)
	res.Metrics[MetricRSSPerSlowPeer] = float64(rss-base) / float64(cfg.Peers)
	res.Metrics[MetricRSSTotalPrefix+"slow"] = float64(rss) / (1 << 20)
	if r1, ok := refused(); ok && counted {
		res.Metrics[MetricWritesRefused] = float64(r1 - refused0)
		if n := r1 - refused0; n < int64(cfg.Peers) {
			res.errorf("only %d writes refused for %d peers: some writers wrote their whole flood and wait for nothing (raise the flood bytes)", n, cfg.Peers)
		}
	}
	if q, err := procfs.ReadTCPQueues(server); err == nil && (q.PeerConns < cfg.Peers || q.ServerConns < cfg.Peers) {
		res.errorf("only %d peers and %d server connections established after the window, of %d", q.PeerConns, q.ServerConns, cfg.Peers)
	}
	return res, nil
}

// slowDialer returns a dial function for the slow peers: spread over
// source addresses 127.0.0.2... (no port reserved by the bind), each with
// cfg's receive buffer and segment size set before it connects.
func slowDialer(target *net.TCPAddr, cfg SlowConfig) func(context.Context) (*net.TCPConn, error) {
	var sources []*net.TCPAddr
	if target.IP.To4() != nil {
		for i := range min(cfg.Sources, 250) {
			sources = append(sources, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
		}
	}
	var next atomic.Uint64
	control := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = errors.Join(
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, cfg.RcvBuf),
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, cfg.MSS))
			if len(sources) > 0 {
				serr = errors.Join(serr, syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1))
			}
		})
		return errors.Join(err, serr)
	}
	return func(ctx context.Context) (*net.TCPConn, error) {
		nd := net.Dialer{Timeout: 10 * time.Second, Control: control}
		if len(sources) > 0 {
			nd.LocalAddr = sources[next.Add(1)%uint64(len(sources))]
		}
		c, err := nd.DialContext(ctx, "tcp", target.String())
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}
