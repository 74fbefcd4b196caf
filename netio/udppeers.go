package netio

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// The peer tables of a UDP listener: one per listening descriptor, owned
// by its loop: a peer made for each new source address within MaxPeers
// (newPeer, countPeer), ended (endPeer), swept for idleness by one timer a
// table (armSweep, sweep), and closed at stop (closePeers).

// table returns the peer table of gc's listening descriptor, making it on
// its first datagram. Loop goroutine.
func (u *udpSide) table(gc gnet.Conn) *peerTable {
	fd := gc.Fd()
	if p := u.tables.Load(); p != nil {
		if t := (*p)[fd]; t != nil {
			return t
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	local := sockaddrUDP(sa)
	var ln *Listener
	for _, l := range u.lns {
		if l.addr == local.String() {
			ln = l
			break
		}
	}
	if ln == nil {
		return nil
	}
	_, v6 := sa.(*unix.SockaddrInet6)
	t := &peerTable{side: u, ln: ln, fd: fd, v6: v6, local: local, loop: gc.EventLoop(), peers: map[netip.AddrPort]*Conn{}}
	if ln.peerIdle > 0 {
		t.every = min(max(ln.peerIdle/8, 5*time.Millisecond), time.Second)
		t.ticks = uint32((ln.peerIdle + t.every - 1) / t.every)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	next := map[int]*peerTable{fd: t}
	if p := u.tables.Load(); p != nil {
		for k, v := range *p {
			next[k] = v
		}
	}
	u.tables.Store(&next)
	return t
}

// newPeer makes the peer of a new source address and reports it through
// Handler.OnOpen. It returns nil when no peer is made; the datagram (size
// bytes) is then dropped and counted:
//   - the listener is banned: in its banned bytes;
//   - the listener has MaxPeers live peers: as a max_peers limit hit and in
//     the limit-dropped bytes. This is the path a flood of new source
//     addresses takes, so it costs two atomic adds: no Conn, no map entry,
//     no Handler call, nothing allocated here (docs/SEMANTICS.md §5, §6);
//   - the engine is stopping, or the layer above closed the new peer at
//     once (a closed listener).
//
// Loop goroutine.
func (t *peerTable) newPeer(ua *net.UDPAddr, size int) *Conn {
	l, e := t.ln, t.side.e
	if l.recvBan.Load() {
		l.banned.Add(uint64(size))
		e.traffic.banned.Add(uint64(size))
		return nil
	}
	if e.stopping.Load() {
		return nil
	}
	if !l.countPeer() {
		e.peerHits.Add(1)
		e.traffic.limitDropped.Add(uint64(size))
		return nil
	}
	key := ua.AddrPort()
	u := udpPeer{tbl: t, key: key, seen: t.tick}
	if t.v6 {
		u.sa = &unix.SockaddrInet6{Port: int(key.Port()), Addr: key.Addr().As16()}
	} else {
		u.sa = &unix.SockaddrInet4{Port: int(key.Port()), Addr: key.Addr().Unmap().As4()}
	}
	c := newPeerConn(u)
	c.eng, c.ln, c.remote, c.local = e, l, ua, t.local
	t.peers[key] = c
	e.traffic.opened(c, t.loop)
	if e.announce(c, false, nil) {
		c.closeReq = false
		t.endPeer(c)
		return nil
	}
	if t.ticks > 0 && t.timer == nil {
		t.armSweep()
	}
	return c
}

// countPeer counts a new peer against the listener's limit and reports
// whether it is within it. The count is shared by the listener's loops: the
// compare-and-swap keeps Peers at or under MaxPeers whichever loop wins.
// Loop goroutine (of any of the listener's loops).
func (l *Listener) countPeer() bool {
	for {
		n := l.peers.Load()
		if l.maxPeers > 0 && n >= int64(l.maxPeers) {
			return false
		}
		if l.peers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// endPeer removes c from its table and reports its close. Loop goroutine
// (after the engine has stopped, the stop helper's).
func (t *peerTable) endPeer(c *Conn) {
	if c.closed.Load() {
		return
	}
	if key := peerOf(c).key; t.peers[key] == c {
		delete(t.peers, key)
	}
	t.ln.peers.Add(-1) // every peer was counted (newPeer)
	c.closed.Store(true)
	t.side.e.traffic.closedConn(c, t.loop)
	t.side.e.h.OnClose(c, c.reason)
}

// armSweep starts the idle sweep of the table. Loop goroutine.
func (t *peerTable) armSweep() {
	t.timer = time.AfterFunc(t.every, func() {
		// Timer goroutine: sweep on the loop.
		_ = t.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			t.sweep() // event loop goroutine
			return nil
		}))
	})
}

// sweep ends the peers idle for the timeout, and rearms while peers are
// left. Loop goroutine.
func (t *peerTable) sweep() {
	t.tick++
	for _, c := range t.peers {
		if t.tick-peerOf(c).seen >= t.ticks {
			c.Close(ReasonTimeout)
		}
	}
	if len(t.peers) == 0 || t.side.e.stopping.Load() {
		t.timer = nil
		return
	}
	t.timer.Reset(t.every)
}

// closePeers ends every peer left with ReasonShutdown. Goroutine: the stop
// helper, after every loop has returned (no loop owns the tables now).
func (u *udpSide) closePeers() {
	p := u.tables.Load()
	if p == nil {
		return
	}
	for _, t := range *p {
		if t.timer != nil {
			t.timer.Stop()
		}
		for _, c := range t.peers {
			if c.reason == ReasonNone {
				c.reason = ReasonShutdown
			}
			t.endPeer(c)
		}
	}
}
