package netio

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// UDP listeners (docs/SEMANTICS.md §6). gnet serves a UDP listening socket
// with one OnTraffic per datagram on a throw-away gnet.Conn: no OnOpen, no
// OnClose, no context that lasts. The engine therefore keeps the peers
// itself: every remote address that sends gets a Conn of its own (a "peer"),
// announced through Handler.OnOpen like an accepted TCP connection and ended
// through Handler.OnClose, so the layer above serves both transports with one
// code path. Only within the listener's MaxPeers: over it a datagram from a
// new address is dropped and counted before anything is made (newPeer).
//
// gnet turns SO_REUSEPORT on for every listener of an engine that has a UDP
// one (each loop binds its own copy), which would change how TCP and unix
// listeners share their port. UDP listeners therefore run on a gnet engine
// of their own, the udpSide; TCP, unix and every dialled socket stay on the
// main one.
//
// Ownership: a listening descriptor is polled by exactly one loop, and the
// kernel hashes a source address to one descriptor of a SO_REUSEPORT group,
// so a peer lives on one loop. Each descriptor has a peerTable owned by its
// loop; a peer's Conn is owned by that loop as any Conn is.

// DefaultMaxPeers is a UDP listener's peer limit when none is set.
const DefaultMaxPeers = 65536

// DefaultPeerIdleTimeout ends a UDP peer with no datagram in or out for that
// long (FD_CLOSE 10060 timeout) when no other timeout is set.
const DefaultPeerIdleTimeout = 60 * time.Second

// Largest UDP payloads: 65535 minus the IP and UDP headers.
const (
	maxDatagram4 = 65507
	maxDatagram6 = 65527
)

// udpSide is the gnet engine of the UDP listeners. Its lifecycle fields
// mirror the Engine's: geng is set in OnBoot, booted closes on the first
// tick, done when Rotate returns.
type udpSide struct {
	gnet.BuiltinEventEngine
	e   *Engine
	lns []*Listener // declared before Start; immutable afterwards

	geng     gnet.Engine
	booted   chan struct{}
	tickOnce sync.Once
	done     chan struct{}
	runErr   error       // written before done is closed
	running  atomic.Bool // Rotate was started

	mu     sync.Mutex                         // serializes writers of tables
	tables atomic.Pointer[map[int]*peerTable] // by listening descriptor; copy-on-write
}

func newUDPSide(e *Engine) *udpSide {
	return &udpSide{e: e, booted: make(chan struct{}), done: make(chan struct{})}
}

// peerTable holds the peers of one listening descriptor. Everything in it
// belongs to the descriptor's loop, except the immutable fields.
type peerTable struct {
	side  *udpSide       // immutable
	ln    *Listener      // immutable
	fd    int            // immutable: the loop's descriptor of ln
	v6    bool           // immutable: an AF_INET6 socket (peer addresses are 16 bytes)
	local net.Addr       // immutable: the bound address
	loop  gnet.EventLoop // immutable

	peers map[netip.AddrPort]*Conn // loop
	tick  uint32                   // loop: advanced by every sweep
	every time.Duration            // immutable: the sweep period
	ticks uint32                   // immutable: a peer idle for this many ticks times out
	timer *time.Timer              // loop: armed while the table has peers
}

// dgram is the datagram side of a Conn: a UDP peer of a listener, or a
// dialled (connected) UDP socket. Fields belong to the Conn's loop unless
// noted.
type dgram struct {
	loop gnet.EventLoop // immutable: the loop that owns the Conn

	// A peer of a listener.
	tbl  *peerTable     // immutable; nil for a dialled socket
	key  netip.AddrPort // immutable: the peer's address in tbl
	sa   unix.Sockaddr  // immutable: where its datagrams go
	seen uint32         // tbl.tick at the last datagram in or out

	// A dialled socket.
	fd       int  // immutable: our own descriptor of the socket; -1 for a peer
	pending  Code // an asynchronous error (an ICMP report) for the next operation
	detached bool // gnet dropped its registration (see udpdial.go); re-enrolling
}

// maxPayload is the largest datagram Write takes.
func (d *dgram) maxPayload(c *Conn) int {
	if d.tbl != nil {
		if d.tbl.v6 {
			return maxDatagram6
		}
		return maxDatagram4
	}
	if ua, ok := c.remote.(*net.UDPAddr); ok && ua.IP.To4() == nil {
		return maxDatagram6
	}
	return maxDatagram4
}

// SetPeerLimits sets a UDP listener's peer limit (0: DefaultMaxPeers,
// negative: none) and peer idle timeout (0: DefaultPeerIdleTimeout,
// negative: none). Call it before Engine.Start; it does nothing for other
// listeners.
func (l *Listener) SetPeerLimits(maxPeers int, idle time.Duration) {
	if !l.Datagram() {
		return
	}
	if maxPeers == 0 {
		maxPeers = DefaultMaxPeers
	}
	if idle == 0 {
		idle = DefaultPeerIdleTimeout
	}
	l.maxPeers, l.peerIdle = maxPeers, idle
}

// Datagram reports whether l is a UDP listener. Safe from any goroutine.
func (l *Listener) Datagram() bool { return l.udp != nil }

// Peers returns the number of live peers of a UDP listener. Safe from any
// goroutine.
func (l *Listener) Peers() int64 { return l.peers.Load() }

// BannedBytes returns the bytes a banned UDP listener dropped from
// addresses that had no peer socket (its peers count their own). Safe from
// any goroutine.
func (l *Listener) BannedBytes() uint64 { return l.banned.Load() }

// RecvBanned reports whether BanPeers was called. Safe from any goroutine.
func (l *Listener) RecvBanned() bool { return l.recvBan.Load() }

// BanPeers puts the receive ban in force for the whole UDP listener
// (RecvDisconnect on its socket): from the call on, no datagram reaches
// Handler.OnData for any of its peers, no new peer is made, and what
// arrives is dropped and counted. each then runs on every live peer's loop
// (for the layer above to drop what it queued), and done once every loop
// has run them, or at once if the engine is not running. Safe from any
// goroutine; done may run on a loop.
func (l *Listener) BanPeers(each func(c *Conn), done func()) {
	l.recvBan.Store(true)
	u := l.udp
	var tables []*peerTable
	if u != nil {
		u.mu.Lock() // a table made after this sees recvBan (it loads it after its own registration)
		if p := u.tables.Load(); p != nil {
			for _, t := range *p {
				if t.ln == l {
					tables = append(tables, t)
				}
			}
		}
		u.mu.Unlock()
	}
	var left atomic.Int32
	left.Store(int32(len(tables)) + 1)
	finish := func() {
		if left.Add(-1) == 0 {
			done()
		}
	}
	for _, t := range tables {
		err := t.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			for _, c := range t.peers { // event loop goroutine
				c.recvShut = true
				if each != nil {
					each(c)
				}
			}
			finish()
			return nil
		}))
		if err != nil {
			finish() // the engine is stopping: its peers end with it
		}
	}
	finish()
}

// reserve fixes the concrete address of every UDP listener before gnet binds
// it: gnet binds one copy per loop, each binding port 0 would get a port of
// its own. A port-0 listener is bound here first with SO_REUSEPORT and kept
// until boot, so the port stays ours; a fixed one is probed with a plain
// bind, which a live SO_REUSEPORT group refuses too. Goroutine: Start's.
func (u *udpSide) reserve() (held []int, err error) {
	for _, l := range u.lns {
		host, port, _ := net.SplitHostPort(l.address)
		ua, rerr := net.ResolveUDPAddr(l.network, l.address)
		if rerr != nil {
			return held, &OpError{Op: "Start", Code: startCode(rerr), Detail: rerr.Error(), Err: rerr}
		}
		if port != "0" && ua.Port != 0 {
			pc, perr := net.ListenPacket(l.network, l.address)
			if perr != nil {
				return held, &OpError{Op: "Start", Code: startCode(perr), Detail: perr.Error(), Err: perr}
			}
			_ = pc.Close()
			continue
		}
		fd, bound, berr := bindHeld(l.network, unix.SOCK_DGRAM, ua.IP, ua.Port, true)
		if berr != nil {
			berr = &net.OpError{Op: "listen", Net: l.network, Addr: ua, Err: berr}
			return held, &OpError{Op: "Start", Code: startCode(berr), Detail: berr.Error(), Err: berr}
		}
		held = append(held, fd)
		l.address = net.JoinHostPort(host, strconv.Itoa(bound))
	}
	return held, nil
}

// start boots the UDP engine with the main engine's options. Goroutine:
// Start's.
func (u *udpSide) start(ctx context.Context) error {
	held, err := u.reserve()
	defer func() {
		for _, fd := range held {
			_ = unix.Close(fd) // gnet's copies have the port now
		}
	}()
	if err != nil {
		close(u.done)
		return err
	}
	addrs := make([]string, len(u.lns))
	for i, l := range u.lns {
		addrs[i] = l.network + "://" + l.address
	}
	e := u.e
	opts := e.gnetOptions(
		gnet.WithReusePort(true),
		// A datagram is read whole or truncated by recvfrom: the buffer
		// holds the largest one.
		gnet.WithReadBufferCap(max(e.opts.ReadBufferCap, 64<<10)),
	)
	u.running.Store(true)
	go func() {
		// The UDP engine's own goroutine: Rotate returns after shutdown.
		err := gnet.Rotate(u, addrs, opts...)
		u.runErr = err
		close(u.done)
	}()
	select {
	case <-u.booted:
		return nil
	case <-u.done:
		if u.runErr == nil {
			return ErrNetDown
		}
		return &OpError{Op: "Start", Code: startCode(u.runErr), Detail: u.runErr.Error(), Err: u.runErr}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop shuts the UDP engine down and waits for Rotate to return. Goroutine:
// the Engine's stop helper.
func (u *udpSide) stop() {
	if !u.running.Load() {
		return
	}
	select {
	case <-u.booted:
	case <-u.done:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		_ = u.geng.Stop(ctx) // polls every 500 ms; done is the real signal
		close(stopped)
	}()
	<-u.done
	cancel()
	<-stopped
}

// OnBoot records the engine and the listeners' bound addresses. Goroutine:
// the UDP engine's.
func (u *udpSide) OnBoot(eng gnet.Engine) gnet.Action {
	u.geng = eng
	for _, l := range u.lns {
		l.addr = l.address
		if fd, err := eng.DupListener("udp", l.address); err == nil {
			if sa, err := unix.Getsockname(fd); err == nil {
				l.addr = sockaddrUDP(sa).String()
			}
			closeFD(fd)
		}
	}
	return gnet.None
}

// OnTick releases start. Goroutine: gnet's ticker.
func (u *udpSide) OnTick() (time.Duration, gnet.Action) {
	u.tickOnce.Do(func() { close(u.booted) })
	return time.Hour, gnet.None
}

// OnTraffic is the datagram read path: one call per datagram, on the loop
// of the descriptor it arrived on.
func (u *udpSide) OnTraffic(gc gnet.Conn) gnet.Action {
	if u.e.traffic.waking.Load() != 0 {
		// Work woken for this loop runs before this datagram (wake.go);
		// no peer's callback is running yet, so none is held back.
		u.e.runWakes(nil, gc)
	}
	t := u.table(gc)
	if t == nil {
		return gnet.None
	}
	data, _ := gc.Next(-1)
	ua, _ := gc.RemoteAddr().(*net.UDPAddr)
	if ua == nil {
		return gnet.None
	}
	c := t.peers[ua.AddrPort()]
	if c == nil {
		if c = t.newPeer(ua, len(data)); c == nil {
			return gnet.None
		}
	}
	c.bytesIn += uint64(len(data))
	c.dg.seen = t.tick
	if c.recvShut || t.ln.recvBan.Load() {
		// The UDP ban (docs/SEMANTICS.md §6): the datagram was accepted
		// and is dropped; no ICMP, no reset, whatever the policy.
		c.addBanned(uint64(len(data)))
		return gnet.None
	}
	c.inTraffic = true
	u.e.h.OnData(c, data)
	c.inTraffic = false
	if c.closeReq {
		c.closeReq = false
		t.endPeer(c)
	}
	return gnet.None
}

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
	d := &dgram{tbl: t, key: key, fd: -1, seen: t.tick, loop: t.loop}
	if t.v6 {
		d.sa = &unix.SockaddrInet6{Port: int(key.Port()), Addr: key.Addr().As16()}
	} else {
		d.sa = &unix.SockaddrInet4{Port: int(key.Port()), Addr: key.Addr().Unmap().As4()}
	}
	c := &Conn{eng: e, ln: l, dg: d, remote: ua, local: t.local}
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
	if t.peers[c.dg.key] == c {
		delete(t.peers, c.dg.key)
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
		if t.tick-c.dg.seen >= t.ticks {
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

// writeDatagram sends p as one datagram: to the peer from the listener's
// descriptor, or on a dialled socket's own. A datagram never waits in a
// buffer: the kernel takes it whole or refuses it. Loop only.
func (c *Conn) writeDatagram(p []byte) (int, error) {
	d := c.dg
	if code := c.TakeError(); code != OK {
		return 0, &OpError{Op: "Send", Code: code}
	}
	if limit := d.maxPayload(c); len(p) > limit {
		return 0, &OpError{Op: "Send", Code: WSAEMSGSIZE, Detail: "datagram over " + strconv.Itoa(limit) + " bytes"}
	}
	var err error
	if d.tbl != nil {
		err = unix.Sendto(d.tbl.fd, p, 0, d.sa)
		d.seen = d.tbl.tick
	} else {
		_, err = unix.Write(d.fd, p)
	}
	if err != nil {
		return 0, &OpError{Op: "Send", Code: datagramCode(err), Err: err}
	}
	c.bytesOut += uint64(len(p))
	c.active = true
	return len(p), nil
}

// datagramCode maps a send error of a datagram socket to its code.
func datagramCode(err error) Code {
	switch err {
	case unix.EAGAIN, unix.ENOBUFS:
		return WSAEWOULDBLOCK
	case unix.EMSGSIZE:
		return WSAEMSGSIZE
	case unix.ECONNREFUSED:
		return WSAECONNREFUSED
	}
	return CodeOf(err, WSAENETDOWN)
}

// TakeError returns and clears the asynchronous error waiting for the next
// operation on a dialled UDP socket (WSAECONNREFUSED after an ICMP port
// unreachable), or OK. Loop only.
func (c *Conn) TakeError() Code {
	if c.dg == nil || c.dg.pending == OK {
		return OK
	}
	code := c.dg.pending
	c.dg.pending = OK
	return code
}

// MaxDatagram returns the largest datagram Write takes on a UDP socket, 0
// on a stream. Safe from any goroutine.
func (c *Conn) MaxDatagram() int {
	if c.dg == nil {
		return 0
	}
	return c.dg.maxPayload(c)
}

// Datagram reports whether c is a UDP socket (a listener's peer or a dialled
// one): a datagram is the unit of Write and OnData. Safe from any goroutine.
func (c *Conn) Datagram() bool { return c.dg != nil }

// Network returns the connection's transport: "tcp", "udp" or "unix".
// Safe from any goroutine.
func (c *Conn) Network() string {
	switch {
	case c.dg != nil:
		return "udp"
	case c.remote != nil && c.remote.Network() == "unix", c.local != nil && c.local.Network() == "unix":
		return "unix"
	}
	return "tcp"
}

// sockaddrUDP converts a socket address to a *net.UDPAddr.
func sockaddrUDP(sa unix.Sockaddr) *net.UDPAddr {
	ip, port, _ := ipPortOf(sa)
	return &net.UDPAddr{IP: ip, Port: port}
}
