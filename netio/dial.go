package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/internal/tlsloop"
	"github.com/sockactor/sockactor/winsock"
)

// dialTag marks a connection enrolled by Dial; gnet hands it back as the
// connection's context in OnOpen.
type dialTag struct {
	owner any
	udpFD int              // a dialled UDP socket's own descriptor (udpdial.go); -1 for TCP
	taken atomic.Bool      // OnOpen took udpFD: the Conn closes it from then on
	again *Conn            // set when a dialled UDP socket is enrolled again
	tls   *tlsloop.Session // a TLS dial's established session
}

// Dial connects to a TCP address ("tcp://host:port" or "host:port") or a
// unix domain stream socket ("unix:///path": a missing path is
// WSAECONNREFUSED, see unixDialCode), or makes a connected UDP socket
// ("udp://host:port": no packet is sent, so it succeeds at once; a refused
// destination is the error of a later operation, see Conn.TakeError), and
// enrolls the connection on one of the engine's event loops; Handler.OnOpen
// then runs for it on that loop with c.Dialed() == owner, before Dial
// returns nil. On failure Dial returns an *OpError with the Winsock code of
// the failure and the cause in Err: WSAECONNREFUSED, WSAETIMEDOUT (ctx
// deadline or the network's own timeout; the error's Timeout() is true),
// WSAHOST_NOT_FOUND (the host name does not resolve; Err is the
// *net.DNSError), WSAEADDRNOTAVAIL (the address is not valid for a
// connect), WSAENETDOWN (the engine stopped, unreachable network) or
// WSAEINVAL (a malformed address). A cancelled ctx is reported as itself,
// never as a timeout: errors.Is(err, context.Canceled) holds, and the code is
// WSAECONNABORTED (the connect was aborted locally). It blocks; call it from
// a goroutine of your own, never from an event loop.
func (e *Engine) Dial(ctx context.Context, addr string, owner any) error {
	return e.dial(ctx, addr, nil, owner)
}

// DialTLS is Dial for "tls://host:port": it connects, runs the TLS
// handshake with cfg (bounded by ctx and Options.TLSHandshakeTimeout; a
// cfg without ServerName gets the host), then enrolls the connection, so
// Handler.OnOpen runs once the handshake has completed. A handshake that
// fails or times out is an *OpError with WSAECONNABORTED and the TLS
// error in Err. It blocks; call it from a goroutine of your own.
func (e *Engine) DialTLS(ctx context.Context, addr string, cfg *tls.Config, owner any) error {
	if cfg == nil {
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAEINVAL, Detail: "a tls:// dial needs a *tls.Config"}
	}
	return e.dial(ctx, addr, cfg, owner)
}

func (e *Engine) dial(ctx context.Context, addr string, cfg *tls.Config, owner any) error {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	switch {
	case network == "tls" && cfg == nil:
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAEINVAL, Detail: "a tls:// dial needs a *tls.Config"}
	case network != "tls" && cfg != nil:
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAEINVAL, Detail: "a TLS config given for a " + network + ":// address (use tls://)"}
	case network == "tls":
		network = "tcp"
	}
	select {
	case <-e.booted:
	default:
		return &winsock.OpError{Op: "Dial", Code: winsock.WSANOTINITIALISED, Detail: "engine not started"}
	}
	if e.stopping.Load() {
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAENETDOWN, Detail: "engine stopping"}
	}
	d := net.Dialer{KeepAlive: e.keepAlive()}
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		code := dialCode(err)
		if network == "unix" {
			code = unixDialCode(err)
		}
		return &winsock.OpError{Op: "Dial", Code: code, Detail: err.Error(), Err: err}
	}
	if tc, ok := nc.(*net.TCPConn); ok && e.opts.DisableTCPNoDelay {
		_ = tc.SetNoDelay(false)
	}
	tag := &dialTag{owner: owner, udpFD: -1}
	if cfg != nil {
		// The handshake before gnet has the socket (tls.go).
		tag.tls = tlsloop.Client(clientTLS(cfg, address), nil)
		if err := e.handshake(ctx, tag.tls, nc); err != nil {
			e.tlsStat.failed.Add(1)
			resetConn(nc)
			return &winsock.OpError{Op: "Dial", Code: winsock.WSAECONNABORTED, Detail: "TLS handshake: " + err.Error(), Err: err}
		}
	}
	if isUDP(network) {
		// A connected UDP socket keeps a descriptor of its own (udpdial.go).
		if tag.udpFD, err = dupConnFD(nc); err != nil {
			nc.Close()
			return &winsock.OpError{Op: "Dial", Code: winsock.CodeOf(err, winsock.WSAENETDOWN), Detail: err.Error(), Err: err}
		}
		defer func() {
			if !tag.taken.Load() {
				_ = unix.Close(tag.udpFD) // never enrolled
			}
		}()
	}
	// gnet duplicates the descriptor and closes nc once enrolled.
	gctx := gnet.NewNetConnContext(gnet.NewContext(ctx, tag), nc)
	ch, err := e.geng.Register(gctx)
	if err != nil {
		nc.Close()
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAENETDOWN, Detail: err.Error(), Err: err}
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return &winsock.OpError{Op: "Dial", Code: winsock.WSAENETDOWN, Detail: res.Err.Error(), Err: res.Err}
		}
		return nil
	case <-e.done:
		return &winsock.OpError{Op: "Dial", Code: winsock.WSAENETDOWN, Detail: "engine stopped"}
	}
}

// dupConnFD returns a close-on-exec duplicate of nc's descriptor.
func dupConnFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, winsock.ErrInvalid
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// dialCode maps a dial error to its Winsock code without reading its text.
// Order matters: a cancelled ctx first (it is never a timeout, whatever else
// the chain holds), then timeouts (a DNS lookup that timed out is one), then
// resolution failures, then the connect's own errno.
func dialCode(err error) winsock.Code {
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return winsock.WSAECONNABORTED
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return winsock.WSAETIMEDOUT
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return winsock.WSAETIMEDOUT
		}
		return winsock.WSAHOST_NOT_FOUND
	case errors.Is(err, syscall.ECONNREFUSED):
		return winsock.WSAECONNREFUSED
	case errors.As(err, &ne) && ne.Timeout():
		return winsock.WSAETIMEDOUT
	case errors.As(err, &addrErr):
		return winsock.WSAEINVAL
	}
	// EADDRNOTAVAIL, ECONNRESET, EINVAL, ... keep their code; the rest
	// (ENETUNREACH, EHOSTUNREACH, ...) means the network is not there.
	return winsock.CodeOf(err, winsock.WSAENETDOWN)
}
