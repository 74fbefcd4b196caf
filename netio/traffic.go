package netio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Runtime-wide byte counters without a cost on the read path. A connection
// counts its own bytes (Conn.bytesIn, bytesOut: plain fields its loop owns),
// and nothing else is touched per read or write. Each loop keeps the list
// of its live connections and the totals of the ones that closed (folded in
// OnClose); Traffic asks every loop, through a task on it, for the sum. The
// cost is paid by whoever asks (a metrics scrape), never by the data path.
//
// What moves after OnClose is counted in atomics instead: bytes written on a
// half-open send side (a cold path), and banned bytes, which are never on
// the data path (they are counted in the engine as well as in the Conn).
// So are the datagrams dropped over a UDP listener's MaxPeers, which have no
// Conn to count them.

// TrafficStats counts the bytes every connection of an engine moved since
// the engine was made, the closed connections included.
type TrafficStats struct {
	BytesIn     uint64 `json:"bytes_in"`     // read from the network
	BytesOut    uint64 `json:"bytes_out"`    // written (accepted by the transport)
	BannedBytes uint64 `json:"banned_bytes"` // read and dropped by the receive ban
	// LimitDroppedBytes counts the bytes of UDP datagrams read and dropped
	// because they came from a new source address while their listener had
	// MaxPeers live peers (each such datagram is also a max_peers limit hit).
	LimitDroppedBytes uint64 `json:"limit_dropped_bytes"`
}

// trafficWait bounds how long Traffic waits for the loops.
const trafficWait = time.Second

// loopTraffic is one event loop's share. Its fields belong to that loop
// (after the engine has stopped, to whoever reads them after done).
type loopTraffic struct {
	el      gnet.EventLoop // immutable
	live    []*Conn        // loop: the open connections; Conn.slot is the index
	in, out uint64         // loop: the bytes of the connections that closed
	wake    loopWake       // the loop's wake list (wake.go)
	plain   []byte         // loop: the TLS plaintext buffer (tls.go), made on first use
}

// trafficBook is the Engine's part of it.
type trafficBook struct {
	mu           sync.Mutex                     // serializes writers of loops, and last
	loops        atomic.Pointer[[]*loopTraffic] // copy-on-write: read with one load
	banned       atomic.Uint64                  // every banned byte
	limitDropped atomic.Uint64                  // bytes of datagrams dropped over MaxPeers (udp.go)
	late         atomic.Uint64                  // bytes written after OnClose (half-open)
	last         TrafficStats                   // guarded by mu: what Traffic last returned
	waking       atomic.Int32                   // loops whose wake list is non-empty (wake.go)
}

// loopOf returns el's share, making it on el's first connection. Loop
// goroutine (el's).
func (b *trafficBook) loopOf(el gnet.EventLoop) *loopTraffic {
	if p := b.loops.Load(); p != nil {
		for _, lt := range *p {
			if lt.el == el {
				return lt
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var cur []*loopTraffic
	if p := b.loops.Load(); p != nil {
		cur = *p
	}
	for _, lt := range cur {
		if lt.el == el {
			return lt
		}
	}
	lt := &loopTraffic{el: el}
	lt.wake.task = func(context.Context) error {
		lt.wake.run(b, nil) // event loop goroutine
		return nil
	}
	next := append(append(make([]*loopTraffic, 0, len(cur)+1), cur...), lt)
	b.loops.Store(&next)
	return lt
}

// opened adds c to its loop's live list and returns the loop's share.
// Loop only (OnOpen).
func (b *trafficBook) opened(c *Conn, el gnet.EventLoop) *loopTraffic {
	lt := b.loopOf(el)
	c.slot = int32(len(lt.live))
	lt.live = append(lt.live, c)
	return lt
}

// closedConn folds c's counts into its loop's totals and drops it from the
// live list. Loop only (OnClose).
func (b *trafficBook) closedConn(c *Conn, el gnet.EventLoop) {
	lt := b.loopOf(el)
	i := int(c.slot)
	if i < 0 || i >= len(lt.live) || lt.live[i] != c {
		return // never listed
	}
	lt.in += c.bytesIn
	lt.out += c.sentBytes()
	last := len(lt.live) - 1
	if i != last {
		lt.live[i] = lt.live[last]
		lt.live[i].slot = int32(i)
	}
	lt.live[last] = nil
	lt.live = lt.live[:last]
	if cap(lt.live) > 64 && len(lt.live) < cap(lt.live)/4 {
		lt.live = append([]*Conn(nil), lt.live...) // give a burst's memory back
	}
	c.slot = -1
}

// sum adds lt's bytes to st. Loop only (or after the engine has stopped).
func (lt *loopTraffic) sum(st *TrafficStats) {
	st.BytesIn += lt.in
	st.BytesOut += lt.out
	for _, c := range lt.live {
		st.BytesIn += c.bytesIn
		st.BytesOut += c.sentBytes()
	}
}

// Traffic returns the bytes moved by every connection since the engine was
// made. It runs a short task on each event loop to read the counters the
// loops own, and waits for them (at most a second, or until ctx ends); a
// loop that does not answer in time, or an engine that is stopping, gives
// the last complete answer again. The counts never decrease.
//
// Safe from any goroutine except an event loop's (an Inline handler): the
// task for its own loop could not run while it waits.
func (e *Engine) Traffic(ctx context.Context) TrafficStats {
	b := &e.traffic
	var loops []*loopTraffic
	if p := b.loops.Load(); p != nil {
		loops = *p
	}
	var st TrafficStats
	complete := true
	select {
	case <-e.done:
		// Rotate has returned: no loop runs, their fields are final.
		for _, lt := range loops {
			lt.sum(&st)
		}
	default:
		complete = e.askLoops(ctx, loops, &st)
	}
	st.BytesOut += b.late.Load()
	st.BannedBytes = b.banned.Load()
	st.LimitDroppedBytes = b.limitDropped.Load()

	b.mu.Lock()
	defer b.mu.Unlock()
	if complete {
		b.last.BytesIn = max(b.last.BytesIn, st.BytesIn)
		b.last.BytesOut = max(b.last.BytesOut, st.BytesOut)
	}
	b.last.BannedBytes = max(b.last.BannedBytes, st.BannedBytes)
	b.last.LimitDroppedBytes = max(b.last.LimitDroppedBytes, st.LimitDroppedBytes)
	return b.last
}

// askLoops sums every loop's bytes on that loop. It reports false if one
// did not answer.
func (e *Engine) askLoops(ctx context.Context, loops []*loopTraffic, st *TrafficStats) bool {
	if len(loops) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, trafficWait)
	defer cancel()
	parts := make(chan TrafficStats, len(loops))
	for _, lt := range loops {
		err := lt.el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			var part TrafficStats // event loop goroutine
			lt.sum(&part)
			parts <- part
			return nil
		}))
		if err != nil {
			return false
		}
	}
	for range loops {
		select {
		case part := <-parts:
			st.BytesIn += part.BytesIn
			st.BytesOut += part.BytesOut
		case <-ctx.Done():
			return false
		case <-e.done:
			return false
		}
	}
	return true
}
