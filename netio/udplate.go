package netio

import (
	"context"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

// UDP listeners declared while the engine runs. gnet binds a UDP engine's
// listeners when it boots, so each such listener gets a UDP engine of its
// own (a udpSide with this one listener), booted by Listener.Serve once the
// layer above has set its Owner and peer limits. It stops with the engine.

// udpStartTimeout bounds the boot of a late UDP listener's engine.
const udpStartTimeout = 10 * time.Second

// listenUDPLate declares a UDP listener on a running engine. e.mu held.
func (e *Engine) listenUDPLate(network, address string) (*Listener, error) {
	key := address
	for _, u := range e.udpSidesLocked() {
		for _, l := range u.lns {
			if !anyPort(network, address) && (l.cfgKey == key || l.address == address || l.addr == address) {
				return nil, alreadyListening(network, address)
			}
		}
	}
	u := newUDPSide(e)
	l := &Listener{eng: e, network: network, address: address, cfgKey: key, udp: u}
	l.SetPeerLimits(0, 0)
	u.lns = []*Listener{l}
	u.late = true
	e.udpLate = append(e.udpLate, u)
	return l, nil
}

// serveUDPLate boots a late UDP listener's engine (once). Any goroutine
// except an event loop.
func (e *Engine) serveUDPLate(l *Listener) error {
	u := l.udp
	var err error
	u.lateOnce.Do(func() {
		if e.stopping.Load() {
			err = winsock.ErrNetDown
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), udpStartTimeout)
		defer cancel()
		err = u.start(ctx)
		if err == nil && e.stopping.Load() {
			u.stop() // Stop ran meanwhile and may have missed it
			u.closePeers()
		}
	})
	return err
}

// udpSidesLocked returns every UDP engine: the one booted with the engine,
// then the late ones. e.mu held.
func (e *Engine) udpSidesLocked() []*udpSide {
	var all []*udpSide
	if e.udp != nil {
		all = append(all, e.udp)
	}
	return append(all, e.udpLate...)
}

// udpSides is udpSidesLocked for callers without e.mu.
func (e *Engine) udpSides() []*udpSide {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.udpSidesLocked()
}

// Serve starts serving a listener declared while the engine runs, once
// the layer above has set its Owner (and, for UDP, its peer limits):
// accepting on a TCP, unix or TLS one, booting a UDP one's engine.
// Listeners declared before Start start with the engine; for them Serve
// does nothing. Any goroutine except an event loop; idempotent.
func (l *Listener) Serve(e *Engine) error {
	if l.udp != nil {
		if !l.udp.late {
			return nil
		}
		if err := e.serveUDPLate(l); err != nil {
			return &winsock.OpError{Op: "Listen", Code: winsock.CodeOf(err, winsock.WSAEADDRINUSE), Detail: err.Error(), Err: err}
		}
		return nil
	}
	if l.acc == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		e.startAccepting(l)
	}
	return nil
}
