package actors

import (
	"crypto/tls"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// The socket operations of docs/SEMANTICS.md §2 as the mailbox runs them:
// every function here runs on the connection's event loop goroutine.

// write is Write's loop half: it applies the outbound high-water mark
// (docs/SEMANTICS.md §4): a write is refused only while more than the
// low-water mark is queued and it would pass the high-water mark. So a
// refusal always leaves an FD_WRITE owed for later (the queue must drain
// first): none runs inside the refused call, and at or below the low mark
// a write of any size up to MaxSend is taken. Goroutine: the loop.
func (s *socket) write(p []byte) (int, error) {
	if q := s.conn.OutboundBuffered(); q > s.host.opts.SendLowWater && q+len(p) > s.host.opts.SendHighWater {
		s.host.limits.highWater.Add(1)
		s.armWrite()
		return 0, winsock.ErrWouldBlock
	}
	return s.conn.Write(p)
}

// armWrite owes an FD_WRITE once the outbound queue is at or below the
// low-water mark. Goroutine: the loop.
func (s *socket) armWrite() {
	if s.writeWait || s.closeEv != nil {
		return
	}
	s.writeWait = true
	s.conn.NotifyDrained(s.host.opts.SendLowWater, func() {
		s.writeWait = false
		if s.q != nil {
			s.q.lastOut.Store(int64(s.conn.OutboundBuffered()))
		}
		s.emit(events.FDWrite, winsock.OK, "write", false)
	})
}

// doSend answers a Send: also on a half-open socket (peer FIN), whose send
// side stays usable (docs/SEMANTICS.md §5). A refusal is counted in
// HostStats.SendsRefused whether or not a reply was asked for.
func (s *socket) doSend(m *Send) *SendResult {
	code := winsock.OK
	n := 0
	switch {
	case m == nil:
		code = winsock.WSAEINVAL
	case len(m.Data) > s.host.opts.MaxSend:
		code = winsock.WSAEMSGSIZE
		s.host.limits.maxSend.Add(1)
	default:
		if code = s.conn.SendCode(); code == winsock.OK && (len(m.Data) > 0 || s.conn.Datagram()) {
			var err error
			n, err = s.write(m.Data)
			code = winsock.CodeOf(err, winsock.WSAECONNRESET)
		}
	}
	if code != winsock.OK {
		s.host.sendsRefused.Add(1)
	}
	return &SendResult{N: int64(n), Code: uint32(code)}
}

// doRecv answers a pull (docs/SEMANTICS.md §2). A push-mode socket buffers nothing,
// so while open it answers WSAEWOULDBLOCK.
func (s *socket) doRecv(m *Recv, closed bool) *RecvResult {
	switch {
	case m == nil || m.Max < 0:
		return &RecvResult{Code: uint32(winsock.WSAEINVAL)}
	case s.conn.RecvShut():
		return &RecvResult{Code: uint32(winsock.WSAESHUTDOWN)}
	}
	if s.conn.Datagram() {
		if r := s.recvDatagram(m); r != nil {
			s.x.tookLate = s.x.tookLate || closed // as for a stream, below
			return r
		}
	} else if x := s.x; x != nil && len(x.pull) > x.pullOff {
		n := min(int(m.Max), len(x.pull)-x.pullOff)
		out := make([]byte, n)
		copy(out, x.pull[x.pullOff:])
		x.pullOff += n
		s.takeWaiting(n, int64(len(x.pull)-x.pullOff)) // may resume reads (inbound.go)
		if x.pullOff == len(x.pull) {
			x.pull, x.pullOff = x.pull[:0], 0
			if cap(x.pull) > 64<<10 {
				x.pull = nil // do not keep a flood's buffer
			}
		}
		if closed {
			x.tookLate = true // the application is still reading: the linger starts again (linger.go)
		}
		// Recv re-enables FD_READ; data left over posts the next one now.
		s.readPosted = false
		if len(x.pull) > x.pullOff {
			s.postRead()
		}
		return &RecvResult{Data: out}
	}
	s.readPosted = false
	if code := s.conn.TakeError(); code != winsock.OK {
		return &RecvResult{Code: uint32(code)} // a dialled UDP socket's ICMP report
	}
	if closed {
		switch s.conn.Reason() {
		case netio.ReasonPeerClose:
			return &RecvResult{}
		case netio.ReasonPeerReset:
			return &RecvResult{Code: uint32(winsock.WSAECONNRESET)}
		}
		return &RecvResult{Code: uint32(winsock.WSAENOTCONN)}
	}
	return &RecvResult{Code: uint32(winsock.WSAEWOULDBLOCK)}
}

func (s *socket) doSubscribe(m *Subscribe) winsock.Code {
	pid, mask, code := s.host.subscription(m)
	if code != winsock.OK {
		return code
	}
	x := s.ext()
	had := x.subs.Has(pid, events.FDClose)
	x.subs = x.subs.With(pid, mask)
	if s.closeEv != nil && mask.Has(events.FDClose) && !s.host.hub.Global().Has(pid, events.FDClose) && !had {
		// The circuit already closed: the late subscriber still gets its
		// one FD_CLOSE, so its bookkeeping needs no second source.
		s.host.hub.SendTo(pid, s.closeEv)
	}
	if s.closeEv == nil && mask.Has(events.FDRead) && len(x.pull) > x.pullOff && !s.conn.RecvShut() {
		// Winsock posts FD_READ to a new registration while unread data
		// waits: this subscriber hears of it now, the others are unaffected.
		s.host.hub.SendTo(pid, s.newEvent(events.FDRead, winsock.OK, "read", false))
	}
	return winsock.OK
}

// doUnsubscribe removes a per-socket subscription. Goroutine: the loop, or
// the poster under mu while the socket is unconnected.
func (s *socket) doUnsubscribe(m *Unsubscribe) winsock.Code {
	pid, code := unsubscriber(m)
	if code == winsock.OK && s.x != nil {
		s.x.subs, _ = s.x.subs.Without(pid)
	}
	return code
}

func (s *socket) info() *SocketInfo {
	st := s.conn.Stats()
	in := &SocketInfo{
		Socket:      s.id,
		Kind:        s.kind(),
		State:       StateOpen.String(),
		RecvShut:    s.conn.RecvShut(),
		SendShut:    s.conn.SendShut(),
		BytesIn:     st.BytesIn,
		BytesOut:    st.BytesOut,
		BannedBytes: st.BannedBytes,
		QueuedIn:    s.pendingIn(),
		QueuedOut:   int64(st.QueuedOut),
		LocalAddr:   s.conn.LocalAddr(),
		RemoteAddr:  s.conn.RemoteAddr(),
		BanPolicy:   s.conn.Policy().String(),
		Dispatch:    s.prof.dispatch.String(),
		ListenerId:  s.prof.lnID,
		Pull:        s.prof.pull,
	}
	if x := s.x; x != nil {
		in.QueuedIn += int64(len(x.pull) - x.pullOff)
	}
	if s.q != nil {
		in.QueuedOut += s.q.pendingOut.Load()
	}
	s.pauseInfo(in)
	if st, ok := s.conn.TLS(); ok {
		in.TlsVersion = tls.VersionName(st.Version)
		in.TlsCipherSuite = tls.CipherSuiteName(st.CipherSuite)
		in.TlsAlpn = st.NegotiatedProtocol
		in.TlsServerName = st.ServerName
		for _, c := range st.PeerCertificates {
			in.TlsPeerCertificates = append(in.TlsPeerCertificates, c.Subject.String())
		}
	}
	if s.closeEv != nil {
		in.State = StateClosed.String()
		in.CloseReason = s.closeEv.Reason
		in.CloseCode = s.closeEv.Code
	}
	return in
}

// kind is SocketInfo.Kind of a connected socket: "tcp", "tls", "udp" or "unix".
func (s *socket) kind() string { return s.conn.Network() }

// closeNow closes the connection (if still open) and releases the socket at
// once, as Close and Abort do. Goroutine: the loop.
func (s *socket) closeNow(r netio.Reason) {
	// Runs transport.OnClose -> s.closed before returning if the circuit is up;
	// on a half-open socket it closes the send side (FIN, or RST for Abort).
	s.conn.Close(r)
	s.release()
}
