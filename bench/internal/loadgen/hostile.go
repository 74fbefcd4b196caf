package loadgen

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// Hostile peers: slow readers that never read what the server writes them,
// and UDP datagrams from more source addresses than the server keeps peers
// for. Both measure what the server pays for peers that do it no good.

// Metric keys of the hostile scenario.
const (
	// Slow readers.
	MetricSlowPeers       = "slow_peers"                  // peers connected and written to (bytes waiting unread at each)
	MetricIdleCorePct     = "idle_core_pct"               // server CPU over the quiet window, % of one core
	MetricIdleCPUPerPeer  = "idle_cpu_us_per_s_per_peer"  // server CPU µs per second of the window per slow peer
	MetricRSSPerSlowPeer  = "rss_per_slow_peer"           // (server RSS after the window − before the first peer) / peers, bytes
	MetricRSSSlowVsStdlib = "rss_per_slow_peer_vs_stdlib" // that figure ÷ stdlib's in the same round (derived by the harness)
	MetricKernelPerPeer   = "kernel_kb_per_slow_peer"     // kernel-held bytes per peer (server tx_queue + peer rx_queue), KB
	MetricSettleSecs      = "settle_s"                    // last connect → the kernel queues stopped growing, seconds
	MetricWritesRefused   = "writes_refused"              // a sockactor server's refused writes (WSAEWOULDBLOCK) up to the window's end: each leaves its writer waiting for FD_WRITE
	MetricQuietSecs       = "quiet_window_s"              // length of the measured quiet window, seconds

	// Spoofed UDP sources.
	MetricSpoofSources    = "spoof_sources"          // datagrams sent, each from a source address of its own
	MetricSpoofRate       = "spoof_per_s"            // of those, per second of the spray
	MetricSpoofDrops      = "spoof_kernel_drops"     // datagrams the server's receive buffers dropped
	MetricSpoofCPU        = "spoof_cpu_us_per_dgram" // server CPU per datagram that reached it, µs
	MetricSpoofRSSPerSrc  = "spoof_rss_per_source"   // server RSS delta per source that reached it, bytes
	MetricSpoofHeapMB     = "spoof_heap_delta_mb"    // server live heap after a forced GC, end of spray − before, MiB
	MetricSpoofPeakOpen   = "spoof_peak_open"        // most sockets open at once (sampled every 50 ms; a server with a peer table only)
	MetricSpoofPeakPeers  = "spoof_peak_peers"       // most live UDP peers at once (sampled)
	MetricSpoofOpenEnd    = "spoof_open_end"         // sockets open once the server has taken every datagram
	MetricSpoofPeerSocks  = "spoof_peer_sockets"     // peer sockets the server made (FD_ACCEPT)
	MetricSpoofLimitClose = "spoof_limit_closed"     // of those, closed by the peer limit (FD_CLOSE 10055)
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

// hostilePeers is the part of the server's peers reply the hostile
// scenario uses.
type hostilePeers struct {
	Open         int64             `json:"open"`
	Accepted     uint64            `json:"accepted"`
	Closed       map[string]uint64 `json:"closed"`
	SendsRefused uint64            `json:"sends_refused"`
	Peers        int64             `json:"udp_peers"`
	Error        string            `json:"error"`
}

// queryHostilePeers asks the side channel for the server's socket
// counters.
func queryHostilePeers(ctx context.Context, cc *controlClient) (hostilePeers, error) {
	line, err := cc.command(ctx, "peers", 10*time.Second)
	if err != nil {
		return hostilePeers{}, err
	}
	return parseHostilePeers(line)
}

// parseHostilePeers parses a peers reply.
func parseHostilePeers(line string) (hostilePeers, error) {
	var p hostilePeers
	if err := json.Unmarshal([]byte(line), &p); err != nil {
		return p, fmt.Errorf("peers reply %q: %w", line, err)
	}
	if p.Error != "" {
		if strings.Contains(p.Error, "no peer table") {
			return p, errNoPeerTable
		}
		return p, errors.New(p.Error)
	}
	return p, nil
}

// queryHeap asks the side channel for the server's live heap after a
// forced collection, in bytes.
func queryHeap(ctx context.Context, cc *controlClient) (uint64, error) {
	line, err := cc.command(ctx, "heap", 30*time.Second)
	if err != nil {
		return 0, err
	}
	var h struct {
		HeapAlloc uint64 `json:"heap_alloc"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return 0, fmt.Errorf("heap reply %q: %w", line, err)
	}
	if h.Error != "" {
		return 0, errors.New(h.Error)
	}
	return h.HeapAlloc, nil
}

// SpoofConfig configures a spoofed-source run: one datagram from each of
// Sources source addresses (127.1.0.1, 127.1.0.2, ...: all of 127.0.0.0/8
// is this machine's loopback), each from a socket bound to it in turn.
type SpoofConfig struct {
	// Target is the server's UDP host:port (IPv4 loopback).
	Target string
	// Notify is the server's side channel, for its live heap and (a
	// sockactor server) its socket counters; optional.
	Notify string
	// Sources is the number of datagrams, one per source address.
	Sources int
	// Window bounds the spray's length: it stops there with fewer sources.
	Window time.Duration
	// Payload is the datagram size (default 32).
	Payload int
	// MaxQueued paces the spray: before every 32nd datagram, while one of
	// the server's sockets holds more than this in its receive buffer, the
	// spray waits (default 64 KiB), so that the kernel drops nothing and
	// every source reaches the server, as fast as it takes them.
	MaxQueued int64
	// Drain bounds the wait, after the spray, for the server to take what
	// is queued (default 10 s).
	Drain time.Duration
	// ServerPID is the process whose CPU time and RSS are read; required.
	ServerPID int
}

// spoofSourceAddr is the i-th spoofed source address: 127.1.0.1 onwards,
// the last byte 1..254, the ones before it counting up.
func spoofSourceAddr(i int) [4]byte {
	per := 254
	x := i / per
	return [4]byte{127, byte(1 + x/256), byte(x % 256), byte(1 + i%per)}
}

// RunSpoof sends one datagram from each spoofed source, paced by the
// server's receive queues, and reads the server's CPU time, RSS, live heap
// and (sockactor) sockets around it.
func RunSpoof(ctx context.Context, cfg SpoofConfig) (Result, error) {
	res := newResult("spoof")
	if cfg.ServerPID == 0 {
		return res, errors.New("spoof: the server's pid is needed")
	}
	if cfg.Sources < 1 || cfg.Sources > 254*256*250 || cfg.Window <= 0 {
		return res, errors.New("spoof: sources must be 1..16,256,000 and the window positive")
	}
	if cfg.Payload < 8 {
		cfg.Payload = 32
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 64 << 10
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 10 * time.Second
	}
	target, err := ResolveLoopbackUDP(cfg.Target)
	if err != nil {
		return res, err
	}
	ap := target.AddrPort()
	server, ok := procfs.ProcAddr(ap)
	if !ok {
		return res, fmt.Errorf("spoof: %s is not IPv4 (the sources are 127.1.x.y)", cfg.Target)
	}
	dst := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}

	var cc *controlClient
	if cfg.Notify != "" {
		if cc, err = dialControl(ctx, cfg.Notify, nil); err != nil {
			return res, err
		}
		defer cc.close()
	}
	var heap0 uint64
	heapKnown := false
	if cc != nil {
		if heap0, err = queryHeap(ctx, cc); err != nil {
			res.errorf("heap: %v", err)
		} else {
			heapKnown = true
		}
	}
	var peers0 hostilePeers
	table := false
	if cc != nil {
		switch peers0, err = queryHostilePeers(ctx, cc); {
		case err == nil:
			table = true
		case !errors.Is(err, errNoPeerTable):
			res.errorf("peers: %v", err)
		}
	}
	if !sleepCtx(ctx.Done(), 200*time.Millisecond) {
		return res, ctx.Err()
	}
	rss0, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("spoof: %w", err)
	}
	q0, err := procfs.ReadUDPQueues(server)
	if err != nil {
		return res, fmt.Errorf("spoof: %w", err)
	}
	if q0.Sockets == 0 {
		return res, fmt.Errorf("spoof: no UDP socket bound to %s in /proc/net/udp", cfg.Target)
	}
	cpu0, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("spoof: %w", err)
	}

	// The server's sockets, sampled while the spray runs: the peak.
	var (
		peakOpen, peakPeers int64
		sampleWG            sync.WaitGroup
	)
	stopSampling := make(chan struct{})
	if table {
		sampleWG.Add(1)
		go func() {
			defer sampleWG.Done()
			for {
				if p, err := queryHostilePeers(ctx, cc); err == nil {
					peakOpen = max(peakOpen, p.Open)
					peakPeers = max(peakPeers, p.Peers)
				}
				if !sleepCtx(stopSampling, peerStatsPoll) {
					return
				}
			}
		}()
	}

	payload := make([]byte, cfg.Payload)
	sent, sendErrs := 0, 0
	var firstErr error
	t0 := time.Now()
	deadline := t0.Add(cfg.Window)
	for i := 0; i < cfg.Sources; i++ {
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		if i%32 == 0 {
			for {
				q, err := procfs.ReadUDPQueues(server)
				if err != nil || q.MaxRx <= cfg.MaxQueued || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		binary.LittleEndian.PutUint64(payload, uint64(i))
		if err := sendFrom(spoofSourceAddr(i), dst, payload); err != nil {
			sendErrs++
			if firstErr == nil {
				firstErr = err
			}
			if sendErrs > 100 && sent == 0 {
				break
			}
			continue
		}
		sent++
	}
	t1 := time.Now()
	if sent < cfg.Sources {
		res.notef("the spray sent %d of %d sources within its %v window", sent, cfg.Sources, cfg.Window)
	}
	if sendErrs > 0 {
		res.errorf("%d sends failed, the first: %v", sendErrs, firstErr)
	}

	// Drain: the server's receive queues empty for three readings in a row.
	var q1 procfs.UDPQueues
	empty := 0
	for drainEnd := time.Now().Add(cfg.Drain); empty < 3 && time.Now().Before(drainEnd); {
		if q1, err = procfs.ReadUDPQueues(server); err != nil {
			return res, fmt.Errorf("spoof: %w", err)
		}
		if q1.Rx == 0 {
			empty++
		} else {
			empty = 0
		}
		if !sleepCtx(ctx.Done(), 20*time.Millisecond) {
			return res, ctx.Err()
		}
	}
	if empty < 3 {
		res.errorf("the server had not taken every datagram %v after the spray (%d B still queued)", cfg.Drain, q1.Rx)
	}
	cpu1, err := procfs.ReadStat(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("spoof: %w", err)
	}
	rss1, err := procfs.ReadRSS(cfg.ServerPID)
	if err != nil {
		return res, fmt.Errorf("spoof: %w", err)
	}
	close(stopSampling)
	sampleWG.Wait()

	drops := q1.Drops - q0.Drops
	delivered := int64(sent) - drops
	res.Metrics[MetricSpoofSources] = float64(sent)
	res.Metrics[MetricSpoofRate] = float64(sent) / t1.Sub(t0).Seconds()
	res.Metrics[MetricSpoofDrops] = float64(drops)
	if delivered > 0 {
		res.Metrics[MetricSpoofCPU] = (cpu1.CPUTime() - cpu0.CPUTime()).Seconds() * 1e6 / float64(delivered)
		res.Metrics[MetricSpoofRSSPerSrc] = float64(rss1-rss0) / float64(delivered)
	}
	if drops > 0 {
		res.notef("the server's kernel dropped %d of %d datagrams", drops, sent)
	}
	if table {
		if p, err := queryHostilePeers(ctx, cc); err == nil {
			peakOpen = max(peakOpen, p.Open)
			peakPeers = max(peakPeers, p.Peers)
			res.Metrics[MetricSpoofOpenEnd] = float64(p.Open - peers0.Open)
			res.Metrics[MetricSpoofPeerSocks] = float64(p.Accepted - peers0.Accepted)
			res.Metrics[MetricSpoofLimitClose] = float64(p.Closed["limit"] - peers0.Closed["limit"])
		} else {
			res.errorf("peers: %v", err)
		}
		res.Metrics[MetricSpoofPeakOpen] = float64(peakOpen)
		res.Metrics[MetricSpoofPeakPeers] = float64(peakPeers)
	}
	if heapKnown {
		if heap1, err := queryHeap(ctx, cc); err != nil {
			res.errorf("heap: %v", err)
		} else {
			res.Metrics[MetricSpoofHeapMB] = (float64(heap1) - float64(heap0)) / (1 << 20)
		}
	}
	return res, nil
}

// sendFrom sends one datagram to dst from a socket bound to src (port 0),
// then closes it.
func sendFrom(src [4]byte, dst *syscall.SockaddrInet4, p []byte) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: src}); err != nil {
		return fmt.Errorf("bind %v: %w", netip.AddrFrom4(src), err)
	}
	return syscall.Sendto(fd, p, 0, dst)
}
