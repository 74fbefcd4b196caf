package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/internal/tlsloop"
	"github.com/sockactor/sockactor/winsock"
)

// Listeners served by an accept goroutine instead of gnet: every TLS
// listener (its handshakes need the blocking socket, tls.go) and every
// listener added while the engine runs (gnet binds its own listeners only
// when it boots). The goroutine accepts, and enrolls each connection on an
// event loop with gnet's Register, as Dial does; from OnOpen on such a
// connection is like any other. Closing the listener stops the accepting
// only.
//
// Goroutines: one accept goroutine per listener (acceptLoop), and for a TLS
// listener one goroutine per handshake in progress, at most
// Options.MaxTLSHandshakes for the engine; none per established
// connection.

// acceptor is the accepting side of such a listener. Its fields are
// immutable once made, except what the sync types guard.
type acceptor struct {
	nl     net.Listener
	tls    *tls.Config // nil: plain TCP or unix
	ctx    context.Context
	cancel context.CancelFunc // ends the accept loop and the handshakes in progress
	start  sync.Once
	close  sync.Once
	closed atomic.Bool     // Close or Stop has run
	wg     *sync.WaitGroup // the engine's accWG: the accept goroutine and its handshake goroutines
}

// acceptTag marks a connection an acceptor enrolled; gnet hands it back as
// the connection's context in OnOpen.
type acceptTag struct {
	ln  *Listener
	tls *tlsloop.Session // the established session of a TLS connection
}

// listenAccept binds a listener served by an accept goroutine, now: its
// address is known at once. The goroutine starts with the engine (or at
// once when it runs). e.mu held.
func (e *Engine) listenAccept(network, address string, cfg *tls.Config) (*Listener, error) {
	bind := network
	if network == "tls" {
		bind = "tcp"
	}
	nl, err := e.listenConfig().Listen(context.Background(), bind, address)
	if err != nil {
		return nil, &winsock.OpError{Op: "Listen", Code: startCode(err), Detail: err.Error(), Err: err}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{eng: e, network: network, address: address, acc: &acceptor{nl: nl, tls: cfg, ctx: ctx, cancel: cancel, wg: &e.accWG}}
	l.addr = nl.Addr().String()
	l.cfgKey = l.addr
	switch a := nl.Addr().(type) {
	case *net.TCPAddr:
		if !a.IP.IsUnspecified() {
			l.bound, l.boundS = a, a.String()
		}
	case *net.UnixAddr:
		l.addr = address
		l.bound, l.boundS = a, a.String()
	}
	e.acceptors = append(e.acceptors, l)
	return l, nil
}

// listenConfig is how listeners are bound: SO_REUSEADDR on TCP as gnet is
// told (Options.DisableReuseAddr), SO_REUSEPORT as Options.ReusePort says.
func (e *Engine) listenConfig() *net.ListenConfig {
	return &net.ListenConfig{Control: listenerControl(e.opts.DisableReuseAddr, e.opts.ReusePort), KeepAlive: e.keepAlive()}
}

// keepAlive is a net.ListenConfig's or net.Dialer's KeepAlive for the
// engine's TCP connections: Options.TCPKeepAlive, or off (Go's own default
// would be 15 s).
func (e *Engine) keepAlive() time.Duration {
	if e.opts.TCPKeepAlive > 0 {
		return e.opts.TCPKeepAlive
	}
	return -1
}

// startAccepting starts l's accept goroutine (once). e.mu held.
func (e *Engine) startAccepting(l *Listener) {
	a := l.acc
	if a.closed.Load() {
		return // closed before Start: never served
	}
	a.start.Do(func() {
		a.wg.Add(1)
		go e.acceptLoop(l) // the listener's accept goroutine
	})
}

// acceptLoop accepts until the listener is closed. Goroutine: l's accept
// goroutine.
func (e *Engine) acceptLoop(l *Listener) {
	a := l.acc
	defer a.wg.Done()
	select {
	case <-e.booted: // Register needs the running engine
	case <-e.done:
		return
	case <-a.ctx.Done():
		return
	}
	var backoff time.Duration
	for {
		nc, err := a.nl.Accept()
		if err != nil {
			if a.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory: wait a little, as net/http
			// does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-a.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok && e.opts.DisableTCPNoDelay {
			_ = tc.SetNoDelay(false) // Go sets TCP_NODELAY on what it accepts
		}
		if a.tls == nil {
			e.enroll(nc, &acceptTag{ln: l})
			continue
		}
		// A handshake slot; when every one is taken (slow or hostile
		// peers), the oldest handshake still running is reset to make
		// room (tls.go, hsSlots).
		slot := e.hs.admit(e, nc)
		a.wg.Add(1)
		go func() {
			// A handshake goroutine: it ends with the handshake.
			defer a.wg.Done()
			s := tlsloop.Server(a.tls, nil)
			err := e.handshake(a.ctx, s, nc)
			if !e.hs.release(slot) {
				return // evicted: counted as such, and nc is closed
			}
			if err != nil {
				e.tlsStat.failed.Add(1)
				resetConn(nc)
				return
			}
			e.tlsStat.handshakes.Add(1)
			e.enroll(nc, &acceptTag{ln: l, tls: s})
		}()
	}
}

// enroll hands nc to an event loop (OnOpen runs there with tag as its
// context) and waits until it is enrolled or the engine stops. gnet
// duplicates the descriptor and closes nc. Goroutine: an accept or
// handshake goroutine.
func (e *Engine) enroll(nc net.Conn, tag *acceptTag) {
	gctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), tag), nc)
	ch, err := e.geng.Register(gctx)
	if err != nil {
		_ = nc.Close()
		return
	}
	select {
	case <-ch:
	case <-e.done:
	}
}

// resetConn closes nc with RST.
func resetConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// Close stops l accepting: its address is released before Close returns,
// handshakes in progress on it end, and the connections it accepted stay
// open. A TCP or unix listener that gnet bound at Start is released too
// (unbind.go), once the engine runs; a UDP listener serves until the
// engine stops (WSAEOPNOTSUPP). Close does not wait for accept or handshake
// goroutines to end (Engine.Stop does), so it may be called from anywhere,
// an event loop included. Idempotent.
func (l *Listener) Close() error {
	a := l.acc
	if a == nil {
		if l.udp != nil {
			return &winsock.OpError{Op: "Close", Code: winsock.WSAEOPNOTSUPP, Detail: "a UDP listener serves until the runtime stops"}
		}
		return l.eng.closeBound(l)
	}
	a.stop()
	// Out of the engine's list, so that opening and closing listeners
	// while running holds no memory: the accept goroutine and its
	// handshakes end on their own, and Stop waits for them (accWG).
	e := l.eng
	e.mu.Lock()
	if i := slices.Index(e.acceptors, l); i >= 0 {
		e.acceptors = slices.Delete(e.acceptors, i, i+1)
	}
	e.mu.Unlock()
	return nil
}

// stop ends the accept goroutine and the handshakes in progress.
func (a *acceptor) stop() {
	a.close.Do(func() {
		a.closed.Store(true)
		a.cancel()
		_ = a.nl.Close()
	})
}

// closeAcceptors closes every accept-served listener and waits for the
// goroutines of all of them, those closed earlier too. The listeners are
// stopped under e.mu, as startAccepting checks closed and adds to accWG
// under it: an accept goroutine either was counted before the Wait or is
// never started. Goroutine: Stop's.
func (e *Engine) closeAcceptors() {
	e.mu.Lock()
	for _, l := range e.acceptors {
		l.acc.stop()
	}
	e.mu.Unlock()
	e.accWG.Wait()
}

// isClosed reports whether Close has released l. Any goroutine.
func (l *Listener) isClosed() bool {
	if l.acc != nil {
		return l.acc.closed.Load()
	}
	return l.released.Load()
}

// TLS reports whether l is a TLS listener. Any goroutine (immutable).
func (l *Listener) TLS() bool { return l.acc != nil && l.acc.tls != nil }
