package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

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
