package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/netio"
)

// Dialer connects outbound connections onto the event loops (netio.Engine).
type Dialer interface {
	Dial(ctx context.Context, addr string, owner any) error
}

// Dial creates a socket actor for an outbound TCP connection to addr and
// returns its PID at once, like a non-blocking WSAConnect: the socket is
// "connecting" (it answers RecvDisconnect, Send and Recv with WSAENOTCONN)
// until FD_CONNECT ends the dial, with 0 or the failure code
// (WSAECONNREFUSED, WSAETIMEDOUT, WSAENETDOWN), to its handler and to
// opts.Subscribers and the runtime-wide subscribers. A connected socket then
// behaves like an accepted one; one that failed lingers, then is released.
// Safe for concurrent use.
func (h *Host) Dial(ctx context.Context, d Dialer, addr string, handler Handler, opts DialOptions) (*actor.PID, error) {
	if handler == nil {
		return nil, &netio.OpError{Op: "Dial", Code: netio.WSAEINVAL, Detail: "nil handler"}
	}
	if opts.Dispatch != Inline && opts.Dispatch != Pooled {
		return nil, &netio.OpError{Op: "Dial", Code: netio.WSAEINVAL, Detail: "unknown dispatch"}
	}
	if _, _, err := netio.ParseAddr(addr); err != nil {
		return nil, err
	}
	prof := &profile{handler: handler, dispatch: opts.Dispatch, policy: h.opts.BanPolicy, pull: opts.Pull}
	if opts.BanPolicySet {
		prof.policy = opts.BanPolicy
	}
	s := newSocket(h, prof, opts.Subscribers, true)
	h.open.Add(1)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	go func() {
		// The dialling goroutine: bounded by the timeout and ctx.
		dctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := d.Dial(dctx, addr, s); err != nil {
			s.failed(netio.CodeOf(err, netio.WSAENETDOWN))
		}
	}()
	return s.PID(), nil
}
