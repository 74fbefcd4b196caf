package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// Listeners: declaring an address (Listen, ParseAddr), the duplicate and
// port-0 rules, the ports reserved until Start, and the probe that binds
// every address before gnet does (probeBinds), so a taken address fails
// Start with nothing left bound.

// Listener is one listening address of an Engine.
//
// Its fields are immutable once Engine.Start returns, so a Listener is safe
// for concurrent use.
type Listener struct {
	network string   // "tcp", "tcp4", "tcp6" or "unix"
	address string   // host:port (or the unix path) as given to gnet
	addr    string   // the bound address (real port), set at boot
	cfgKey  string   // the configured address as gnet reports it in Conn.LocalAddr
	bound   net.Addr // the bound address when it names one IP (nil for a wildcard), or the unix path
	boundS  string   // bound.String(), made once: a connection's LocalAddr costs nothing
	// gnetAddr is the address value gnet hands this listener's accepted
	// connections as their LocalAddr, learned at the first one
	// (Engine.listenerFor). Set by the loops.
	gnetAddr atomic.Pointer[net.Addr]

	// Owner is the upper layer's record for the listener (its actor).
	// Set before Start; immutable afterwards.
	Owner any

	eng      *Engine // immutable
	released unbound // a listener gnet bound, released by Close (unbind.go)

	// acc serves a listener accepted by a goroutine (a TLS listener, or
	// one added while the engine runs: acceptor.go); nil for gnet's own.
	// Immutable.
	acc *acceptor

	// A UDP listener's (udp.go): udp is nil for the others.
	udp      *udpSide      // immutable
	maxPeers int           // immutable after Start: the peer limit (<= 0: none)
	peerIdle time.Duration // immutable after Start: the peer idle timeout (<= 0: none)
	peers    atomic.Int64  // live peers
	recvBan  atomic.Bool   // RecvDisconnect on the listener: every peer is banned
	banned   atomic.Uint64 // bytes dropped by the ban from addresses without a peer
}

// Network returns the listener's network: "tcp", "tcp4", "tcp6", "tls",
// "udp", "udp4", "udp6" or "unix". Any goroutine (immutable).
func (l *Listener) Network() string { return l.network }

// Addr returns the bound address, with the real port when port 0 was asked;
// for a unix listener, its path as given. Empty before the engine has started
// (a unix listener's is set by Listen). Any goroutine once Engine.Start
// has returned.
func (l *Listener) Addr() string { return l.addr }

// Listen declares a listening address: "tcp://host:port" (or "host:port"),
// "tcp4://", "tcp6://", "udp://host:port", "udp4://", "udp6://", or
// "unix:///path" for a unix domain stream socket ("tls://" needs
// ListenTLS). Listeners declared before Start are bound by gnet when the
// engine boots; a TCP or unix listener declared while the engine runs is
// bound at once and served by an accept goroutine (acceptor.go), and can
// be closed (Listener.Close). UDP listeners are declared before Start
// only.
//
// A listener binds the address it was given or fails; it never moves to
// another port. An address this engine already listens on is refused here
// with WSAEADDRINUSE (errors.Is(err, syscall.EADDRINUSE) holds): the same
// protocol (tcp, tcp4 and tcp6 are one protocol, udp* another, unix a
// third) and the same host:port once resolved, or the same unix path once
// made absolute. Port 0 asks for any free port and is never a duplicate.
// Two addresses the kernel will not let share a port although they differ
// (a wildcard and a specific address on one port) and an address another
// process holds fail at Start with WSAEADDRINUSE, before any listener is
// bound (probeBinds); after Start, at once. Any goroutine.
func (e *Engine) Listen(protoAddr string) (*Listener, error) {
	return e.listen(protoAddr, nil)
}

// ListenTLS declares a TLS listener, "tls://host:port", with cfg (which
// must hold a certificate or GetCertificate). It is bound at once, before
// or after Start, and served by an accept goroutine that runs each
// handshake on a goroutine of its own, bounded by Options.MaxTLSHandshakes
// and Options.TLSHandshakeTimeout; an established connection costs no
// goroutine (tls.go). Any goroutine.
func (e *Engine) ListenTLS(protoAddr string, cfg *tls.Config) (*Listener, error) {
	if cfg == nil {
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "a tls:// listener needs a *tls.Config"}
	}
	return e.listen(protoAddr, cfg)
}

func (e *Engine) listen(protoAddr string, cfg *tls.Config) (*Listener, error) {
	network, address, err := ParseAddr(protoAddr)
	if err != nil {
		return nil, err
	}
	switch {
	case network == "tls" && cfg == nil:
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "a tls:// listener needs a *tls.Config"}
	case network != "tls" && cfg != nil:
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "a TLS config given for a " + network + ":// address (use tls://)"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping.Load() {
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAENETDOWN, Detail: "runtime shut down or shutting down"}
	}
	reusePort := e.opts.ReusePort && network != "unix" && !isUDP(network)
	if network == "tls" || reusePort || (e.started && !isUDP(network)) {
		if network == "unix" {
			if err := e.unixFree(address); err != nil {
				return nil, err
			}
		}
		if reusePort && e.holdsTCP(network, address) {
			// The kernel would let this engine's second socket share the
			// port too: refused here, as without SO_REUSEPORT.
			return nil, alreadyListening(network, address)
		}
		return e.listenAccept(network, address, cfg)
	}
	if e.started { // a UDP listener while running: an engine of its own
		return e.listenUDPLate(network, address)
	}
	if isUDP(network) {
		return e.listenUDP(network, address)
	}
	if network == "unix" {
		return e.listenUnix(address)
	}
	// gnet reports an accepted connection's local address as its
	// listener's resolved configured address, and DupListener finds
	// listeners by address: two listeners with one such key must not both
	// exist. With a real port that is one address declared twice (tcp and
	// tcp4 on one host, localhost and 127.0.0.1): refused. Two port-0
	// listeners on one host are two requests for a free port: the later
	// one gets a concrete free port now.
	key := resolvedKey(network, address)
	for _, l := range e.listeners {
		if l.network == "unix" || (l.cfgKey != key && l.address != address) {
			continue
		}
		if !anyPort(network, address) {
			return nil, alreadyListening(network, address)
		}
		if address, err = e.reservePort(network, address); err != nil {
			return nil, &winsock.OpError{Op: "Listen", Code: winsock.CodeOf(err, winsock.WSAEINVAL), Detail: err.Error(), Err: err}
		}
		break
	}
	l := &Listener{eng: e, network: network, address: address, cfgKey: resolvedKey(network, address)}
	e.listeners = append(e.listeners, l)
	return l, nil
}

// holdsTCP reports whether a listener of this engine, open or declared,
// already has the TCP address (port 0 never counts). e.mu held.
func (e *Engine) holdsTCP(network, address string) bool {
	if anyPort(network, address) {
		return false
	}
	key := resolvedKey(strings.Replace(network, "tls", "tcp", 1), address)
	for _, ls := range [][]*Listener{e.listeners, e.acceptors} {
		for _, l := range ls {
			if l.network == "unix" || isUDP(l.network) || (l.acc != nil && l.acc.closed.Load()) {
				continue
			}
			if l.cfgKey == key || l.address == address {
				return true
			}
		}
	}
	return false
}

// ParseAddr splits "tcp://host:port" (or "host:port") into network and
// address; the networks are tcp, tcp4, tcp6, tls (TCP with TLS), udp,
// udp4 and udp6, and
// "unix:///path" (or "unix://relative/path") gives "unix" and the path.
// Anything else is refused with WSAEINVAL. Any goroutine.
func ParseAddr(protoAddr string) (network, address string, err error) {
	network, address = "tcp", protoAddr
	if i := strings.Index(protoAddr, "://"); i >= 0 {
		network, address = strings.ToLower(protoAddr[:i]), protoAddr[i+3:]
	}
	if network == "unix" {
		return parseUnix(address) // a path, no host:port (unix.go)
	}

	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "tls":
	default:
		return "", "", &winsock.OpError{Op: "ParseAddr", Code: winsock.WSAEINVAL, Detail: "unsupported network " + strconv.Quote(network)}
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", "", &winsock.OpError{Op: "ParseAddr", Code: winsock.WSAEINVAL, Detail: err.Error()}
	}
	// A number from 0 to 65535 or a service name ("http"), as net accepts.
	if _, err := net.LookupPort(strings.Replace(network, "tls", "tcp", 1), port); err != nil {
		return "", "", &winsock.OpError{Op: "ParseAddr", Code: winsock.WSAEINVAL, Detail: "bad port " + strconv.Quote(port)}
	}
	return network, address, nil
}

func isUDP(network string) bool {
	return network == "udp" || network == "udp4" || network == "udp6"
}

// listenUDP declares a UDP listener. Two with one address would share it
// (gnet binds UDP with SO_REUSEPORT), so the second is refused. e.mu held.
func (e *Engine) listenUDP(network, address string) (*Listener, error) {
	key := address
	if ua, err := net.ResolveUDPAddr(network, address); err == nil {
		key = ua.String()
	}
	if e.udp != nil && !anyPort(network, address) {
		for _, l := range e.udp.lns {
			if l.cfgKey == key || l.address == address {
				return nil, alreadyListening(network, address)
			}
		}
	}
	if e.udp == nil {
		e.udp = newUDPSide(e)
	}
	l := &Listener{eng: e, network: network, address: address, cfgKey: key, udp: e.udp}
	l.SetPeerLimits(0, 0)
	e.udp.lns = append(e.udp.lns, l)
	return l, nil
}

// anyPort reports whether address asks for any free port (port 0).
// address has passed ParseAddr.
func anyPort(network, address string) bool {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	p, err := net.LookupPort(network, port)
	return err == nil && p == 0
}

// alreadyListening is Listen's error for an address the engine already
// listens on.
func alreadyListening(network, address string) error {
	return &winsock.OpError{Op: "Listen", Code: winsock.WSAEADDRINUSE, Detail: network + " address " + address + " already has a listener in this runtime", Err: syscall.EADDRINUSE}
}

// resolvedKey is the address as gnet will report it for the listener.
func resolvedKey(network, address string) string {
	if ta, err := net.ResolveTCPAddr(network, address); err == nil {
		return ta.String()
	}
	return address
}

// reservePort gives address a concrete free port. The port stays bound
// (SO_REUSEADDR, not listening) until Start has handed it to gnet, whose
// listener binds beside it: otherwise a connect elsewhere in the process
// could take it as its ephemeral port in between, and Start would fail with
// WSAEADDRINUSE. Without SO_REUSEADDR (Options.DisableReuseAddr), or for an
// address of no one family, the port is only picked. e.mu held.
func (e *Engine) reservePort(network, address string) (string, error) {
	host, _, _ := net.SplitHostPort(address)
	ta, err := net.ResolveTCPAddr(network, address)
	if err == nil && ta.IP != nil && !e.opts.DisableReuseAddr {
		fd, port, berr := bindHeld(network, unix.SOCK_STREAM, ta.IP, 0, false)
		if berr != nil {
			return "", os.NewSyscallError("bind", berr)
		}
		e.held = append(e.held, fd)
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// releaseReserved closes the ports Listen reserved. Goroutine: Start's,
// once gnet has bound its listeners or failed to; or Stop's.
func (e *Engine) releaseReserved() {
	e.mu.Lock()
	held := e.held
	e.held = nil
	e.mu.Unlock()
	for _, fd := range held {
		closeFD(fd)
	}
}

// probeBinds binds every listening address before gnet does, holding each
// until all are bound, then releases them all. gnet binds its listeners one
// after the other and, when a later one fails, leaves the earlier ones
// bound (and accepting) for the life of the process; so what would make a
// bind fail is found here first, with nothing bound for real yet:
//   - an address another process holds: WSAEADDRINUSE (with SO_REUSEADDR
//     too: Linux lets no socket bind beside a listening one);
//   - two listeners of this engine that Listen could not tell apart from
//     their addresses but the kernel will not let share a port (a
//     wildcard and a specific address, tcp and tcp4 wildcards, on one
//     port): the later one fails with WSAEADDRINUSE;
//   - an address that is not local, a host that does not resolve.
//
// UDP listeners are probed with the others, without SO_REUSEADDR or
// SO_REUSEPORT (gnet sets both on them), so the same holds for them; a
// TCP and a UDP listener on one port never conflict. Unix paths are
// checked first (prepareUnix). Between the probe and gnet's bind another
// process can still take an address (the race of any server). Goroutine:
// Start's.
func (e *Engine) probeBinds(ctx context.Context) error {
	if err := e.prepareUnix(ctx); err != nil {
		return err // a unix path that gnet must not remove (unix.go)
	}
	lc := e.listenConfig()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for _, l := range e.listeners {
		if l.network == "unix" {
			continue
		}
		ln, err := lc.Listen(ctx, l.network, l.address)
		if err != nil {
			return &winsock.OpError{Op: "Start", Code: startCode(err), Detail: err.Error(), Err: err}
		}
		held = append(held, ln)
	}
	if e.udp != nil {
		for _, l := range e.udp.lns {
			pc, err := lc.ListenPacket(ctx, l.network, l.address)
			if err != nil {
				return &winsock.OpError{Op: "Start", Code: startCode(err), Detail: err.Error(), Err: err}
			}
			held = append(held, pc)
		}
	}
	return nil
}

// listenerControl sets a TCP listener's options before it binds: SO_REUSEADDR
// off when disable is set (Go sets it on TCP listeners, as gnet is told to
// by default), SO_REUSEPORT on when reusePort is (Options.ReusePort).
func listenerControl(disable, reusePort bool) func(network, _ string, rc syscall.RawConn) error {
	return func(network, _ string, rc syscall.RawConn) error {
		if (!disable && !reusePort) || !strings.HasPrefix(network, "tcp") {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			if disable {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 0)
			}
			if reusePort && serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// startCode maps an error of gnet.Rotate to its Winsock code without reading
// its text: a listener host name that does not resolve is
// WSAHOST_NOT_FOUND, an errno its twin, anything else WSAENETDOWN.
func startCode(err error) winsock.Code {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsTimeout {
		return winsock.WSAHOST_NOT_FOUND
	}
	return winsock.CodeOf(err, winsock.WSAENETDOWN)
}
