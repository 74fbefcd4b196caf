package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// UDP metric keys (the echo keys msgs, msgs_per_s, p50_us, ... are reused
// for datagrams).
const (
	MetricLostDatagrams = "lost_datagrams" // datagrams with no echo within the loss timeout
	MetricLateDatagrams = "late_datagrams" // echoes that arrived after their datagram was counted lost

	// UDP peer churn.
	MetricPeers          = "peers"               // peers created (datagrams answered)
	MetricPeersPerSec    = "peers_per_s"         // peers created per second
	MetricCPUPerPeer     = "cpu_us_per_peer"     // server CPU per peer created
	MetricRSSPerPeerPfx  = "rss_per_peer_"       // server RSS delta per live idle peer, bytes (suffix: peer count)
	MetricRSSPeersPfx    = "rss_peers_mb_"       // server RSS with that many idle peers, MiB
	MetricLivePeers      = "live_peers"          // the server's open sockets at the RSS reading (-1: no peer table)
	MetricExpired        = "expired"             // peers closed (any reason) by the end of the expiry wait
	MetricExpiredTimeout = "expired_timeout"     // of those, FD_CLOSE reason "timeout"
	MetricExpireAllSecs  = "expire_all_s"        // last peer's datagram -> every peer closed, seconds
	MetricPeerVsTCP      = "rss_peer_vs_tcp"     // RSS per idle UDP peer / the same server's RSS per idle TCP connection (derived by the harness)
	MetricPeerLost       = "peer_lost"           // peers whose datagram got no echo after every retry
	MetricPeerTableKnown = "peer_table"          // 1 when the server answered the peers command
	metricPeerStatsErr   = "peer_stats_errors"   // failed peers commands (not a figure)
	peerStatsPoll        = 50 * time.Millisecond // expiry polling interval
)

// ResolveLoopbackUDP resolves target (host:port) as a UDP address and
// checks that it is a loopback address.
func ResolveLoopbackUDP(target string) (*net.UDPAddr, error) {
	t, err := ResolveLoopback(target)
	if err != nil {
		return nil, err
	}
	return &net.UDPAddr{IP: t.IP, Port: t.Port, Zone: t.Zone}, nil
}

// udpDialer opens connected UDP sockets to a loopback target, spread over
// source addresses 127.0.0.2... so that every socket is a distinct peer
// (source address and port) of the server.
type udpDialer struct {
	target  *net.UDPAddr
	sources []*net.UDPAddr
	next    atomic.Uint64
}

func newUDPDialer(target string, sources int) (*udpDialer, error) {
	addr, err := ResolveLoopbackUDP(target)
	if err != nil {
		return nil, err
	}
	d := &udpDialer{target: addr}
	if addr.IP.To4() != nil {
		for i := range min(sources, 250) {
			d.sources = append(d.sources, &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
		}
	}
	return d, nil
}

// dial opens one connected UDP socket: it receives only from the target.
func (d *udpDialer) dial() (*net.UDPConn, error) {
	var local *net.UDPAddr
	if len(d.sources) > 0 {
		local = d.sources[d.next.Add(1)%uint64(len(d.sources))]
	}
	return net.DialUDP("udp", local, d.target)
}

// closeUDP closes every non-nil socket.
func closeUDP(conns []*net.UDPConn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

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
	cfg        UDPEchoConfig
	phase      atomic.Int32
	base       time.Time
	hist       stats.Histogram
	msgs       atomic.Int64
	lost       atomic.Int64
	late       atomic.Int64
	mismatches atomic.Int64
	mu         sync.Mutex
	ioErrs     []string
}

func (e *udpEchoRun) ioError(i int, err error) {
	if e.phase.Load() == phaseStop {
		return
	}
	e.mu.Lock()
	if len(e.ioErrs) < 10 {
		e.ioErrs = append(e.ioErrs, fmt.Sprintf("peer %d: %v", i, err))
	}
	e.mu.Unlock()
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

	e := &udpEchoRun{cfg: cfg, base: time.Now()}
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
		res.errorf("no datagram was echoed in the measured window")
	}
	if n := e.lost.Load(); n > 0 {
		res.notef("%d datagrams lost (no echo within %v) in the measured window", n, cfg.LossTimeout)
	}
	for _, s := range e.ioErrs {
		res.errorf("%s", s)
	}
	return res, nil
}

// pingPong sends datagram after datagram on socket i, each after the echo
// of the previous one or its loss timeout.
func (e *udpEchoRun) pingPong(i int, c *net.UDPConn, hardStop time.Time) {
	out := message(i, e.cfg.Payload)
	in := make([]byte, e.cfg.Payload+64)
	var local, lost int64
	defer func() { e.msgs.Add(local); e.lost.Add(lost) }()
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

// peerCounters is the part of the server's peers reply the churn uses.
type peerCounters struct {
	open, closed, timeout int64
}

// errNoPeerTable is the server answering that it keeps no peer table.
var errNoPeerTable = errors.New("the server keeps no peer table")

// queryPeers asks the side channel for the server's peer counters.
func queryPeers(ctx context.Context, cc *controlClient) (peerCounters, error) {
	line, err := cc.command(ctx, "peers", 10*time.Second)
	if err != nil {
		return peerCounters{}, err
	}
	return parsePeers(line)
}

// parsePeers parses the JSON of a peers reply: the server's PeerStats, or
// {"error": ...}.
func parsePeers(line string) (peerCounters, error) {
	var rep struct {
		Open   int64            `json:"open"`
		Closed map[string]int64 `json:"closed"`
		Error  string           `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return peerCounters{}, fmt.Errorf("peers reply %q: %w", line, err)
	}
	if rep.Error != "" {
		if strings.Contains(rep.Error, "no peer table") {
			return peerCounters{}, errNoPeerTable
		}
		return peerCounters{}, errors.New(rep.Error)
	}
	pc := peerCounters{open: rep.Open, timeout: rep.Closed["timeout"]}
	for _, v := range rep.Closed {
		pc.closed += v
	}
	return pc, nil
}
