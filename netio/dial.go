package netio

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/panjf2000/gnet/v2"
)

// dialTag marks a connection enrolled by Dial; gnet hands it back as the
// connection's context in OnOpen.
type dialTag struct{ owner any }

// Dial connects to a TCP address ("tcp://host:port" or "host:port") and
// enrolls the connection on one of the engine's event loops; Handler.OnOpen
// then runs for it on that loop with c.Dialed() == owner, before Dial
// returns nil. On failure Dial returns the Winsock code of the failure as an
// error: WSAECONNREFUSED, WSAETIMEDOUT (ctx deadline or the network's own
// timeout), WSAENETDOWN (the engine stopped, unreachable network) or
// WSAEINVAL (a malformed address). It blocks; call it from a goroutine of
// your own, never from an event loop.
func (e *Engine) Dial(ctx context.Context, addr string, owner any) error {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	select {
	case <-e.booted:
	default:
		return &OpError{Op: "Dial", Code: WSANOTINITIALISED, Detail: "engine not started"}
	}
	if e.stopping.Load() {
		return &OpError{Op: "Dial", Code: WSAENETDOWN, Detail: "engine stopping"}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return &OpError{Op: "Dial", Code: dialCode(err), Detail: err.Error()}
	}
	// gnet duplicates the descriptor and closes nc once enrolled.
	gctx := gnet.NewNetConnContext(gnet.NewContext(ctx, &dialTag{owner: owner}), nc)
	ch, err := e.geng.Register(gctx)
	if err != nil {
		nc.Close()
		return &OpError{Op: "Dial", Code: WSAENETDOWN, Detail: err.Error()}
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return &OpError{Op: "Dial", Code: WSAENETDOWN, Detail: res.Err.Error()}
		}
		return nil
	case <-e.done:
		return &OpError{Op: "Dial", Code: WSAENETDOWN, Detail: "engine stopped"}
	}
}

// dialCode maps a dial error to its Winsock code without reading its text.
func dialCode(err error) Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return WSAETIMEDOUT
	case errors.Is(err, syscall.ECONNREFUSED):
		return WSAECONNREFUSED
	case errors.Is(err, context.Canceled):
		return WSAETIMEDOUT
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return WSAETIMEDOUT
	}
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	if errors.As(err, &dnsErr) || errors.As(err, &addrErr) {
		return WSAEINVAL
	}
	return WSAENETDOWN
}
