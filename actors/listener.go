package actors

import (
	"slices"
	"strconv"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Listener is the actor of one listening socket. It answers the socket
// messages a listener can answer (Info, Subscribe, Unsubscribe, Close) and
// WSAENOTCONN to the ones that need a connection (Send, Recv,
// RecvDisconnect, SendDisconnect, SuspendReading, ResumeReading). Its subscribers get FD_ACCEPT per
// accepted connection, and, as with Winsock's WSAAsyncSelect, accepted
// sockets inherit the listener's subscriptions.
//
// A listener's messages are handled on the sender's goroutine under its
// mutex: it has no I/O to serialize with. All methods are safe for
// concurrent use.
type Listener struct {
	id   uint64
	pid  *actor.PID
	host *host
	nl   *netio.Listener
	opts ListenOptions
	prof profile // what its sockets take

	mu       sync.Mutex
	subs     events.Subs // copy-on-write: accepted sockets share the slice
	closed   bool
	released bool
	onClose  func() // OnClose's f; taken (set to nil) by the first close
}

// AddListener creates the actor of a listening address declared on the
// engine. handler must not be nil.
func (h *host) AddListener(nl *netio.Listener, handler Handler, opts ListenOptions) (*Listener, error) {
	if handler == nil || nl == nil {
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "nil handler"}
	}
	if err := opts.validate("Listen"); err != nil {
		return nil, err
	}
	nl.SetPeerLimits(opts.MaxPeers, opts.PeerIdleTimeout)
	l := &Listener{host: h, nl: nl, opts: opts, id: h.newID()}
	l.prof = profile{handler: handler, dispatch: opts.Dispatch, policy: opts.policy(h.opts.BanPolicy), pull: opts.Pull, recycle: opts.Dispatch == Pooled && opts.RecycleReads, lnID: l.id}
	key := pidPrefix + strconv.FormatUint(l.id, 10)
	h.register(listenerProcess{l}, key)
	l.pid = actor.NewPID(h.system.Address(), key)
	nl.Owner = l
	h.mu.Lock()
	h.listeners = append(h.listeners, l)
	h.mu.Unlock()
	return l, nil
}

// ID returns the listener's numeric id.
func (l *Listener) ID() uint64 { return l.id }

// PID returns the listener's actor PID.
func (l *Listener) PID() *actor.PID { return l.pid }

// Addr returns the bound address ("127.0.0.1:7000"), with the real port
// when port 0 was asked; empty before the runtime starts. A unix listener's
// is its path, set from Listen on.
func (l *Listener) Addr() string { return l.nl.Addr() }

// Datagram reports whether this is a UDP listener, whose peers are its
// sockets (docs/SEMANTICS.md §6).
func (l *Listener) Datagram() bool { return l.nl.Datagram() }

// Network returns the listener's network: "tcp", "tcp4", "tcp6", "tls",
// "udp", "udp4", "udp6" or "unix".
func (l *Listener) Network() string { return l.nl.Network() }

// Dispatch returns the listener's dispatch mode.
func (l *Listener) Dispatch() Dispatch { return l.opts.Dispatch }

// BanPolicy returns the ban policy its sockets start with.
func (l *Listener) BanPolicy() BanPolicy { return l.prof.policy }

// OnClose arranges for f to be called once the listener is closed by a
// Close, Abort or Stop to its PID: once, on the goroutine that closed it,
// after its address is freed and outside the listener's lock (so f may
// take its caller's locks, unless that goroutine holds them while closing
// the listener). The release at shutdown does not call it. It reports
// false, and f is never called, if the listener is closed already. A later
// call replaces f. Safe for concurrent use.
func (l *Listener) OnClose(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.onClose = f
	return true
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *Listener) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

func (l *Listener) subsSnapshot() events.Subs {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.subs
}

func (l *Listener) release() {
	l.mu.Lock()
	already := l.released
	l.released, l.closed = true, true
	l.onClose = nil // released, not closed by a request: OnClose's f is not called
	l.mu.Unlock()
	if !already {
		l.host.unregister(l.pid.Id)
		h := l.host
		h.mu.Lock()
		if i := slices.Index(h.listeners, l); i >= 0 {
			h.listeners = slices.Delete(h.listeners, i, i+1)
		}
		h.mu.Unlock()
	}
}

// listenerProcess is the listener's actor.Process in protoactor's registry:
// plumbing kept off the Listener's API. Its methods run on the sender's
// goroutine.
type listenerProcess struct{ l *Listener }

// SendUserMessage handles a message on the caller's goroutine.
func (p listenerProcess) SendUserMessage(_ *actor.PID, m any) {
	if p.l.isReleased() {
		// A PID keeps its process once resolved: a released listener
		// answers as a released socket does (WSAENOTSOCK).
		p.l.host.answerReleased(p.l.pid, m)
		return
	}
	_, msg, sender := actor.UnwrapEnvelope(m)
	if rd, ok := msg.(*RecvDisconnect); ok && rd != nil && rd.BufferLen >= 0 && p.l.nl.Datagram() {
		p.l.banListenerPeers(sender) // a UDP listener bans all its peers (§6)
		return
	}
	reply := p.l.handle(msg)
	if sender != nil && reply != nil {
		p.l.host.replyFrom(p.l.pid, sender, reply)
	}
}

// SendSystemMessage: Stop closes the listener; other system messages are
// ignored.
func (p listenerProcess) SendSystemMessage(_ *actor.PID, m any) {
	if _, ok := m.(*actor.Stop); ok {
		p.l.handle(&Close{})
	}
}

// Stop closes the listener.
func (p listenerProcess) Stop(*actor.PID) { p.l.handle(&Close{}) }

func (l *Listener) handle(msg any) any {
	if reply, ok := withoutCircuit(msg); ok {
		return reply // a listener has no circuit: WSAENOTCONN
	}
	switch m := msg.(type) {
	case *Close, *Abort:
		// The transport stops accepting and frees the address
		// (netio.Listener.Close); a connection it still hands over is
		// refused (RST) here. A UDP listener keeps its descriptor until
		// shutdown (WSAEOPNOTSUPP from the transport): closed, it makes no
		// new peer.
		l.mu.Lock()
		first := !l.closed
		l.closed = true
		onClose := l.onClose
		l.onClose = nil // the first close only
		l.mu.Unlock()
		_ = l.nl.Close()
		if onClose != nil {
			onClose()
		}
		if first && !l.nl.Datagram() {
			// A closed stream listener answers (state closed) for the
			// linger, as a closed socket does, then is released: its PID
			// answers WSAENOTSOCK and it holds no memory. (A UDP listener
			// still serves its peers: it stays until shutdown.)
			l.host.door.AfterFunc(l.host.opts.Linger, l.release)
		}
		return &CloseResult{}
	case *Subscribe:
		pid, mask, code := l.host.subscription(m)
		if code == winsock.OK {
			l.mu.Lock()
			l.subs = l.subs.With(pid, mask)
			l.mu.Unlock()
		}
		return &SubscribeResult{Code: uint32(code)}
	case *Unsubscribe:
		pid, code := unsubscriber(m)
		if code == winsock.OK {
			l.mu.Lock()
			l.subs, _ = l.subs.Without(pid)
			l.mu.Unlock()
		}
		return &SubscribeResult{Code: uint32(code)}
	case *Info:
		l.mu.Lock()
		state := StateListening
		if l.closed {
			state = StateClosed
		}
		l.mu.Unlock()
		return &SocketInfo{
			Socket:      l.id,
			Kind:        "listener",
			State:       state.String(),
			RecvShut:    l.nl.RecvBanned(),
			BannedBytes: l.nl.BannedBytes(),
			LocalAddr:   l.nl.Addr(),
			BanPolicy:   l.prof.policy.String(),
			Pull:        l.opts.Pull,
			Dispatch:    l.opts.Dispatch.String(),
		}
	case *Connect:
		return &ConnectResult{Code: uint32(winsock.WSAEINVAL), Detail: "a listener does not connect"}
	case nil:
		return &Error{Code: uint32(winsock.WSAEINVAL), Detail: "nil message"}
	}
	return &Error{Code: uint32(winsock.WSAEINVAL), Detail: "unknown message for a listener"}
}
