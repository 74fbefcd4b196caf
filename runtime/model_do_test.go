package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// do runs one operation on the runtime and on the model.
func (r *seqRun) do(op opKind) *divergence {
	r.h.ops.Add(1)
	r.cur = r.m.String()
	m, rt, ctx, pid := r.m, r.h.rt, r.ctx, r.pid
	switch op {
	case opPeerWrite:
		data := randBytes(r.rng, 1+r.rng.Intn(200))
		_ = r.peer.SetWriteDeadline(time.Now().Add(modelWait))
		if _, err := r.peer.Write(data); err != nil {
			r.logf("PeerWrite(%d) -> %v", len(data), err)
			return r.div("PeerWrite", "peer write ok", errClass(err), "")
		}
		r.logf("PeerWrite(%d)", len(data))
		switch {
		case m.readsPaused():
			// §5: nothing is read while paused; the bytes wait in the
			// kernel and arrive, in order, after the resume. The Info
			// checks (bytes_in, queued_in, the handler's bytes) show that
			// none was read meanwhile.
			r.h.covered("peer write while app-paused")
			m.held = append(m.held, data...)
			return nil
		case !m.banned:
			m.arrive(data)
		case m.policy == actors.BanDiscard:
			r.h.covered("peer write after ban (discard)")
			m.dropBanned(len(data))
		default:
			// §3.3 reset: data after the ban resets the connection.
			r.h.covered("peer write after ban (reset)")
			m.bytesIn += uint64(len(data))
			m.closeWith("recv-ban", winsock.WSAECONNABORTED, true)
			m.bytesInKnown, m.bannedKnown = false, false
			if d := r.waitClosed("PeerWrite after ban (reset)"); d != nil {
				return d
			}
			d := r.expectPeerReset("PeerWrite after ban (reset): peer")
			m.peerGone = true
			return d
		}
		return r.settle("PeerWrite")

	case opPeerFin, opPeerTruncate:
		if op == opPeerTruncate {
			// TLS: the TCP FIN alone, no close_notify before it (§8).
			_ = r.raw.CloseWrite()
			r.logf("PeerTruncate")
			m.finTrunc = true
			r.h.covered("peer FIN without close_notify")
		} else {
			r.peerFin()
			r.logf("PeerFIN")
		}
		m.peerFin = true
		if m.readsPaused() {
			if !m.sendShut {
				// §5: a FIN is found by the first read after the resume.
				r.h.covered("peer FIN while app-paused")
				m.finHeld = true
				return nil
			}
			// §5: both sides have sent FIN (a hang-up): the peer's last
			// bytes are read and delivered, then FD_CLOSE.
			r.h.covered("peer FIN while app-paused after SendDisconnect (hang-up)")
			return r.heldAtClose("PeerFIN while paused, after SendDisconnect")
		}
		m.closeByPeerFin()
		return r.waitClosed(op.String())

	case opPeerRst:
		_ = r.raw.SetLinger(0)
		_ = r.raw.Close()
		r.logf("PeerRST")
		m.peerGone = true
		if len(m.unread) > 0 {
			m.unreadAmbiguous = true
		}
		if m.readsPaused() {
			// §5: a reset is noticed at once while paused; the bytes
			// never read are lost (never in bytes_in).
			r.h.covered("peer RST while app-paused")
			if len(m.held) > 0 {
				r.h.covered("peer RST while app-paused with held bytes")
			}
			m.held = nil
		}
		m.closeWith("peer-reset", winsock.WSAECONNRESET, false)
		return r.waitClosed("PeerRST")

	case opSend:
		data := randBytes(r.rng, 1+r.rng.Intn(64))
		var want codes
		switch {
		case m.released:
			want = codes{winsock.WSAENOTSOCK}
		case m.sendShut:
			want = codes{winsock.WSAESHUTDOWN} // §2 table: send after SendDisconnect
			if m.resetClosed() {
				want = append(want, m.resetCodes()...)
			}
		case m.resetClosed():
			want = m.resetCodes()
		case m.truncClosed():
			want = m.truncCodes()
		default:
			want = codes{0} // also half-open after peer FIN (decision 3)
		}
		n, err := rt.Send(ctx, pid, data)
		code, got := errCode(err)
		r.logf("Send(%d) -> n=%d %s", len(data), n, got)
		if !m.released && !m.sendShut && m.truncClosed() {
			r.h.observe("Send after FD_CLOSE truncated -> %s", got)
		}
		if !m.released && m.resetClosed() {
			r.h.observe("Send after FD_CLOSE %s (send-shut=%v) -> %s", m.closeEv.reason, m.sendShut, got)
		}
		if !want.has(code) {
			return r.div("Send", want.String(), got, "")
		}
		if code != 0 {
			return nil
		}
		if m.closed {
			r.h.covered("Send on a half-open socket")
		}
		if n != len(data) {
			return r.div("Send", "n = len(data)", "short", fmt.Sprintf("n=%d of %d", n, len(data)))
		}
		m.bytesOut += uint64(n)
		b, err := r.peerRead(len(data))
		if err != nil || !bytes.Equal(b, data) {
			return r.div("Send: peer", "peer reads exactly the sent bytes", errClass(err), fmt.Sprintf("read %s, want %s", short(b), short(data)))
		}
		return nil

	case opRecv:
		max := 1 + r.rng.Intn(128)
		data, err := rt.Recv(ctx, pid, max)
		code, got := errCode(err)
		r.logf("Recv(%d) -> %d bytes %s", max, len(data), got)
		gotClass := got
		if code == 0 {
			gotClass = fmt.Sprintf("%d bytes, 0", len(data))
			if len(data) > 0 {
				gotClass = "data, 0"
			}
		}
		check := func(wantClass string, ok bool) *divergence {
			if ok {
				return nil
			}
			return r.div("Recv", wantClass, gotClass, fmt.Sprintf("got %s", short(data)))
		}
		switch {
		case m.released:
			return check("WSAENOTSOCK", code == winsock.WSAENOTSOCK)
		case m.banned:
			return check("WSAESHUTDOWN", code == winsock.WSAESHUTDOWN && len(data) == 0)
		case len(m.unread) > 0 && m.unreadAmbiguous:
			// Ambiguous: after a peer reset the contract does not say whether
			// unread bytes are still returned (Winsock drops them and answers
			// WSAECONNRESET). Both are accepted.
			k := min(max, len(m.unread))
			if code == 0 && bytes.Equal(data, m.unread[:k]) {
				r.h.observe("Recv after peer RST with unread data -> the data")
				m.unread = m.unread[k:]
				return nil
			}
			if code == winsock.WSAECONNRESET && len(data) == 0 {
				r.h.observe("Recv after peer RST with unread data -> WSAECONNRESET")
				m.unread, m.unreadAmbiguous = nil, false
				return nil
			}
			return check("data|WSAECONNRESET", false)
		case len(m.unread) > 0:
			k := min(max, len(m.unread))
			if d := check("data, 0", code == 0 && bytes.Equal(data, m.unread[:k])); d != nil {
				d.detail += fmt.Sprintf(", want %s", short(m.unread[:k]))
				return d
			}
			m.unread = m.unread[k:]
			m.readPosted = false
			if len(m.unread) > 0 && !m.closed { // §4: the Recv re-enables FD_READ; none after FD_CLOSE
				r.h.covered("partial Recv re-posts FD_READ")
				m.emit(ev{kind: events.FDRead})
				m.readPosted = true
			}
			if len(m.unread) > 0 && m.closed {
				r.h.covered("partial Recv after FD_CLOSE (no FD_READ)")
			}
			return nil
		default:
			m.readPosted = false
			switch {
			case !m.closed:
				return check("WSAEWOULDBLOCK", code == winsock.WSAEWOULDBLOCK)
			case m.closeEv.reason == "peer-close":
				r.h.covered("Recv after peer FIN, drained")
				return check("0 bytes, 0", code == 0 && len(data) == 0) // §5
			case m.closeEv.reason == "truncated":
				// Ambiguous: §5 says 0 bytes, code 0 after the peer's FIN;
				// §8 does not say what Recv answers after a truncation.
				r.h.observe("Recv after FD_CLOSE truncated, drained -> %s", gotClass)
				return check("0 bytes, 0|WSAECONNABORTED|WSAENOTCONN", (code == 0 && len(data) == 0) || code == winsock.WSAECONNABORTED || code == winsock.WSAENOTCONN)
			case m.closeEv.reason == "peer-reset":
				return check("WSAECONNRESET", code == winsock.WSAECONNRESET)
			}
			return check("(unmodelled)", false)
		}

	case opRecvDisconnect:
		data, err := rt.RecvDisconnect(ctx, pid)
		code, got := errCode(err)
		r.logf("RecvDisconnect -> %d bytes %s", len(data), got)
		if m.released {
			if code != winsock.WSAENOTSOCK {
				return r.div("RecvDisconnect", "WSAENOTSOCK", got, "")
			}
			return nil
		}
		// §3.1, §3.9: success with empty data while the socket exists.
		if code != 0 || len(data) != 0 {
			return r.div("RecvDisconnect", "0, empty", got, fmt.Sprintf("data %s", short(data)))
		}
		if m.banned {
			return nil
		}
		m.banned = true
		if m.readsPaused() {
			// §2: RecvDisconnect lifts the application's pause, so what the
			// peer sent meanwhile meets the ban policy.
			r.h.covered("ban while app-paused")
			d := r.banUnread()
			m.appPaused, m.pausedSince = false, 0
			if d != nil || m.closed {
				m.held, m.finHeld = nil, false
				return d
			}
			return r.banHeld()
		}
		return r.banUnread()

	case opSendDisconnect:
		var want codes
		switch {
		case m.released:
			want = codes{winsock.WSAENOTSOCK}
		case m.sendShut:
			// Ambiguous: a second shutdown(SD_SEND) (Winsock answers 0).
			want = codes{0, winsock.WSAESHUTDOWN}
			if m.closed {
				want = append(want, winsock.WSAENOTCONN)
			}
		case m.resetClosed():
			want = m.resetCodes()
		case m.truncClosed():
			want = m.truncCodes()
		default:
			want = codes{0} // also half-open (decision 3)
		}
		err := rt.SendDisconnect(ctx, pid)
		code, got := errCode(err)
		r.logf("SendDisconnect -> %s", got)
		switch {
		case m.released:
		case m.sendShut:
			r.h.observe("second SendDisconnect (closed=%v) -> %s", m.closed, got)
		case m.resetClosed(), m.truncClosed():
			r.h.observe("SendDisconnect after FD_CLOSE %s -> %s", m.closeEv.reason, got)
		}
		if !want.has(code) {
			return r.div("SendDisconnect", want.String(), got, "")
		}
		if code == 0 && !m.sendShut && !m.released {
			m.sendShut = true
			if !m.peerGone {
				if d := r.expectPeerEOF("SendDisconnect: peer"); d != nil {
					return d
				}
			}
			if m.readsPaused() && m.finHeld {
				// §5: both sides have now sent FIN (a hang-up): the peer's
				// last bytes are read and delivered, then FD_CLOSE.
				r.h.covered("SendDisconnect while app-paused with the peer's FIN held (hang-up)")
				return r.heldAtClose("SendDisconnect while paused, peer FIN held")
			}
		}
		return nil

	case opClose, opAbort:
		var err error
		if op == opClose {
			err = rt.Close(ctx, pid)
		} else {
			err = rt.Abort(ctx, pid)
		}
		code, got := errCode(err)
		r.logf("%v -> %s", op, got)
		if m.released {
			if code != winsock.WSAENOTSOCK {
				return r.div(op.String(), "WSAENOTSOCK", got, "")
			}
			return nil
		}
		if code != 0 {
			return r.div(op.String(), "0", got, "")
		}
		m.released = true
		if op == opClose {
			unreadHeld := m.readsPaused() && len(m.held) > 0
			m.closeWith("local-close", 0, true)
			if unreadHeld && !m.peerGone && !m.peerEOF {
				// §5: Close works as usual while paused: the bytes the peer
				// sent meanwhile are dropped unread (counted), and the peer
				// gets every byte sent, then FIN, never a reset.
				r.h.covered("Close while app-paused with held bytes")
				return r.expectPeerEOF("Close while paused: peer")
			}
			if !m.peerGone && !m.peerEOF {
				return r.expectPeerEOF("Close: peer")
			}
			return nil
		}
		m.closeWith("local-abort", winsock.WSAECONNABORTED, true)
		if !m.peerGone {
			d := r.expectPeerReset("Abort: peer")
			m.peerGone = true
			return d
		}
		return nil

	case opSubscribe:
		sub := newEvRecorder(rt.System())
		r.subs = append(r.subs, sub)
		mask := events.MaskOf(events.FDClose, events.FDRead, events.FDWrite)
		err := rt.Caller.Subscribe(ctx, pid, sub.pid, mask)
		code, got := errCode(err)
		r.logf("Subscribe(%v) -> %s", mask, got)
		if m.released {
			if code != winsock.WSAENOTSOCK {
				return r.div("Subscribe", "WSAENOTSOCK", got, "")
			}
			return nil
		}
		if code != 0 {
			return r.div("Subscribe", "0", got, "")
		}
		ms := &modelSub{mask: mask, rec: sub}
		switch {
		case m.closed:
			r.h.covered("subscribe after FD_CLOSE")
			ms.want = []ev{m.closeEv} // §4: FD_CLOSE exactly once to each subscriber
		case m.pull && len(m.unread) > 0:
			r.h.covered("subscribe with unread data")
			ms.want = []ev{{kind: events.FDRead}} // §4, decision 4: FD_READ at once
		}
		m.subs = append(m.subs, ms)
		return nil

	case opInfo:
		info, err := rt.Info(ctx, pid)
		code, got := errCode(err)
		if m.released {
			r.logf("Info -> %s", got)
			if code != winsock.WSAENOTSOCK {
				return r.div("Info", "WSAENOTSOCK", got, "")
			}
			return nil
		}
		if code != 0 {
			r.logf("Info -> %s", got)
			return r.div("Info", "0", got, "")
		}
		r.logf("Info -> state=%s recv_shut=%v send_shut=%v in=%d out=%d banned=%d queued_in=%d queued_out=%d paused_by=%q",
			info.State, info.RecvShut, info.SendShut, info.BytesIn, info.BytesOut, info.BannedBytes, info.QueuedIn, info.QueuedOut, info.ReadPausedBy)
		var wants, gots []string
		var values []string
		cmp := func(field string, want, got any, skip bool) {
			if skip || fmt.Sprint(want) == fmt.Sprint(got) {
				return
			}
			switch want.(type) {
			case bool, string:
				wants = append(wants, fmt.Sprintf("%s=%v", field, want))
				gots = append(gots, fmt.Sprintf("%s=%v", field, got))
			default: // counters: the values go to the detail, not the kind
				wants = append(wants, field+" as modelled")
				gots = append(gots, field+" differs")
				values = append(values, fmt.Sprintf("%s want %v got %v", field, want, got))
			}
		}
		if m.resetClosed() && !m.sendShut {
			r.h.observe("Info.send_shut after FD_CLOSE %s -> %v", m.closeEv.reason, info.SendShut)
		}
		state := "open"
		if m.closed {
			state = "closed"
		}
		cmp("state", state, info.State, false)
		cmp("recv_shut", m.banned, info.RecvShut, false)
		// Ambiguous after a reset: decision 3 says send_shut tells whether the
		// send side is still usable (true), netio says whether FIN was sent.
		cmp("send_shut", m.sendShut, info.SendShut, m.resetClosed() && !m.sendShut)
		cmp("bytes_in", m.bytesIn, info.BytesIn, !m.bytesInKnown)
		cmp("bytes_out", m.bytesOut, info.BytesOut, false) // plaintext over TLS: no record counts
		cmp("banned_bytes", m.bannedBytes, info.BannedBytes, !m.bannedKnown)
		cmp("queued_in", len(m.unread), info.QueuedIn, m.unreadAmbiguous)
		cmp("queued_out", 0, info.QueuedOut, false)
		cmp("pull", m.pull, info.Pull, false)
		cmp("dispatch", r.h.mode.String(), info.Dispatch, false)
		cmp("ban_policy", m.policy.String(), info.BanPolicy, false)
		cmp("socket", r.id, info.Socket, false)
		if m.closed {
			cmp("close_reason", m.closeEv.reason, info.CloseReason, false)
			cmp("close_code", m.closeEv.code, info.CloseCode, false)
		}
		// §2 "Read pauses": outside a flood only the application's source
		// can hold the socket (a flood ends with its inbound pause lifted).
		paused, by := m.readsPaused(), ""
		if paused {
			by = "app"
		}
		cmp("read_paused", paused, info.ReadPaused, false)
		cmp("read_paused_by", by, info.ReadPausedBy, false)
		cmp("read_paused_since set", paused, info.ReadPausedSinceUnixNano != 0, false)
		if paused && info.ReadPausedSinceUnixNano != 0 {
			if m.pausedSince == 0 {
				m.pausedSince = info.ReadPausedSinceUnixNano
			}
			cmp("read_paused_since kept", true, m.pausedSince == info.ReadPausedSinceUnixNano, false)
		}
		if len(wants) > 0 {
			return r.div("Info", strings.Join(wants, " "), strings.Join(gots, " "), strings.Join(values, ", "))
		}
		if !m.pull {
			if got := r.h.log.got(r.id); !bytes.Equal(got, m.delivered) {
				return r.div("Info: handler", "handler got exactly the bytes before the ban", fmt.Sprintf("%d bytes", len(got)),
					fmt.Sprintf("want %d bytes", len(m.delivered)))
			}
		}
		return nil

	case opConnect:
		res, err := rt.System().Root.RequestFuture(pid, &actors.Connect{}, 5*time.Second).Result()
		code := winsock.Code(1<<32 - 1)
		got := fmt.Sprintf("%T %v", res, err)
		switch {
		case errors.Is(err, actor.ErrDeadLetter):
			code = winsock.WSAENOTSOCK
		case err != nil:
		default:
			switch x := res.(type) {
			case *actors.ConnectResult:
				code = winsock.Code(x.Code)
			case *actor.DeadLetterResponse:
				code = winsock.WSAENOTSOCK
			}
		}
		if code != winsock.Code(1<<32-1) {
			got = codeName(code)
		}
		r.logf("Connect -> %s", got)
		var want winsock.Code
		switch {
		case m.released:
			want = winsock.WSAENOTSOCK
		case m.closed:
			want = winsock.WSAEINVAL // §3.8, decision 5
		default:
			want = winsock.WSAEISCONN // §3.8, decision 5 (also after RecvDisconnect)
		}
		if code != want {
			return r.div("Connect", codeName(want), got, "")
		}
		return nil

	case opSuspend:
		return r.suspend()
	case opResume:
		return r.resume()
	case opFlood:
		return r.flood()
	}
	panic("unknown op")
}

// banUnread is the model's side of a successful first RecvDisconnect on
// the pull buffer (the ban itself is already recorded).
func (r *seqRun) banUnread() *divergence {
	m := r.m
	if len(m.unread) == 0 {
		return nil
	}
	if !m.closed && m.policy == actors.BanReset {
		// §3.3: queued data at ban time under reset: reset right then.
		r.h.covered("ban with unread data (reset)")
		m.closeWith("recv-ban", winsock.WSAECONNABORTED, true)
		m.unread, m.unreadAmbiguous = nil, false
		m.bannedKnown = false // the contract does not say whether they count
		if d := r.waitClosed("RecvDisconnect with unread data (reset)"); d != nil {
			return d
		}
		d := r.expectPeerReset("RecvDisconnect with unread data (reset): peer")
		m.peerGone = true
		return d
	}
	// Discard, or after FD_CLOSE whatever the policy (decision 2):
	// dropped and counted.
	if m.closed {
		r.h.covered("ban after FD_CLOSE with unread data")
	} else {
		r.h.covered("ban with unread data (discard)")
	}
	m.bannedBytes += uint64(len(m.unread))
	if m.unreadAmbiguous {
		m.bannedKnown = false
	}
	m.unread, m.unreadAmbiguous = nil, false
	return nil
}
