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

	"github.com/sockactor/sockactor/winsock"
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

// defaultMaxPeers is a UDP listener's peer limit when none is set.
const defaultMaxPeers = 65536

// defaultPeerIdleTimeout ends a UDP peer with no datagram in or out for that
// long (FD_CLOSE 10060 timeout) when no other timeout is set.
const defaultPeerIdleTimeout = 60 * time.Second

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

	late     bool      // immutable: declared while the engine ran (udplate.go)
	lateOnce sync.Once // boots a late one

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

// SetPeerLimits sets a UDP listener's peer limit (0: defaultMaxPeers,
// negative: none) and peer idle timeout (0: defaultPeerIdleTimeout,
// negative: none). Call it before Engine.Start; it does nothing for other
// listeners. The goroutine declaring the listener, before Start.
func (l *Listener) SetPeerLimits(maxPeers int, idle time.Duration) {
	if !l.Datagram() {
		return
	}
	if maxPeers == 0 {
		maxPeers = defaultMaxPeers
	}
	if idle == 0 {
		idle = defaultPeerIdleTimeout
	}
	l.maxPeers, l.peerIdle = maxPeers, idle
}

// Datagram reports whether l is a UDP listener. Safe from any goroutine.
func (l *Listener) Datagram() bool { return l.udp != nil }

// peerCount returns the number of live peers of a UDP listener. Safe from any
// goroutine.
func (l *Listener) peerCount() int64 { return l.peers.Load() }

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
			return held, &winsock.OpError{Op: "Start", Code: startCode(rerr), Detail: rerr.Error(), Err: rerr}
		}
		if port != "0" && ua.Port != 0 {
			pc, perr := net.ListenPacket(l.network, l.address)
			if perr != nil {
				return held, &winsock.OpError{Op: "Start", Code: startCode(perr), Detail: perr.Error(), Err: perr}
			}
			_ = pc.Close()
			continue
		}
		fd, bound, berr := bindHeld(l.network, unix.SOCK_DGRAM, ua.IP, ua.Port, true)
		if berr != nil {
			berr = &net.OpError{Op: "listen", Net: l.network, Addr: ua, Err: berr}
			return held, &winsock.OpError{Op: "Start", Code: startCode(berr), Detail: berr.Error(), Err: berr}
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
			return winsock.ErrNetDown
		}
		return &winsock.OpError{Op: "Start", Code: startCode(u.runErr), Detail: u.runErr.Error(), Err: u.runErr}
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
	peerOf(c).seen = t.tick
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
