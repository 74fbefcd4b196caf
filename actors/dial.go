package actors

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Dial creates a socket actor for an outbound TCP connection to addr and
// returns its PID at once, like a non-blocking WSAConnect: the socket is
// "connecting" (it answers RecvDisconnect, Send and Recv with WSAENOTCONN)
// until FD_CONNECT ends the dial, with 0 or the failure code
// (WSAECONNREFUSED, WSAETIMEDOUT, WSAHOST_NOT_FOUND, WSAEADDRNOTAVAIL,
// WSAENETDOWN), to its handler and to opts.Subscribers and the runtime-wide
// subscribers. A connected socket then behaves like an accepted one; one that
// failed lingers, then is released.
//
// ctx bounds only this call; DialOptions.Timeout (default 10 s) bounds the
// connect. The connect keeps ctx's values but not its cancellation, so the
// usual "ctx, cancel := ...; defer cancel()" around Dial does not abort it.
// If ctx is already done, Dial makes no socket and returns an *winsock.OpError
// wrapping ctx.Err() (errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded) holds; the code is
// WSAECONNABORTED or WSAETIMEDOUT). Safe for concurrent use.
func (h *host) Dial(ctx context.Context, eng *netio.Engine, addr string, handler Handler, opts DialOptions) (*actor.PID, error) {
	if err := ctx.Err(); err != nil {
		code := winsock.WSAECONNABORTED
		if errors.Is(err, context.DeadlineExceeded) {
			code = winsock.WSAETIMEDOUT
		}
		return nil, &winsock.OpError{Op: "Dial", Code: code, Detail: "context done before the dial", Err: err}
	}
	if handler == nil {
		return nil, &winsock.OpError{Op: "Dial", Code: winsock.WSAEINVAL, Detail: "nil handler"}
	}
	if err := opts.validate("Dial"); err != nil {
		return nil, err
	}
	if network, _, err := netio.ParseAddr(addr); err != nil {
		return nil, err
	} else if (network == "tls") != (opts.TLS != nil) {
		return nil, &winsock.OpError{Op: "Dial", Code: winsock.WSAEINVAL, Detail: "a tls:// address and DialOptions.TLS go together"}
	}
	prof := &profile{handler: handler, dispatch: opts.Dispatch, policy: opts.policy(h.opts.BanPolicy), pull: opts.Pull, recycle: opts.Dispatch == Pooled && opts.RecycleReads}
	for _, sub := range opts.Subscribers {
		h.hub.Watch(sub.PID) // a remote one is dropped when it goes (§7)
	}
	s := newSocket(h, prof, opts.Subscribers, true)
	h.open.Add(1)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	// Detached from ctx's cancellation now, while the caller still holds
	// it: the connect outlives this call, bounded by the timeout alone (and
	// by the runtime's stop, through the door's context).
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	stopDial := context.AfterFunc(h.door.ctx, cancel)
	started := h.door.Go(func() {
		// The dialling goroutine.
		defer cancel()
		defer stopDial()
		dial := eng.Dial
		if opts.TLS != nil {
			dial = func(ctx context.Context, addr string, owner any) error {
				return eng.DialTLS(ctx, addr, opts.TLS, owner)
			}
		}
		if err := dial(dctx, addr, s); err != nil {
			code := winsock.CodeOf(err, winsock.WSAENETDOWN)
			if h.door.ctx.Err() != nil {
				code = winsock.WSAENETDOWN // cut short by the runtime's stop
			}
			s.failed(code)
		}
	})
	if !started {
		stopDial()
		cancel()
		s.failed(winsock.WSAENETDOWN)
	}
	return s.PID(), nil
}
