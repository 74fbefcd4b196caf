package runtime_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// Read pauses in the model (docs/SEMANTICS.md §2 "Read pauses", §5
// "Inbound back-pressure"): SuspendReading and ResumeReading with their
// codes, what a paused socket does with the peer's bytes, FIN and reset,
// and floods that a slow application (a gated pooled handler, a pull
// reader taking a few KiB a call) makes the runtime pause for.

// settle waits until the runtime has read what the model says it read
// (Info.bytes_in) and, in push mode, until the handler has every byte
// delivered.
func (r *seqRun) settle(what string) *divergence {
	m := r.m
	if m.bytesInKnown {
		info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return i.BytesIn >= m.bytesIn })
		if !ok {
			return r.div(what, "bytes_in reaches the bytes written", fmt.Sprintf("bytes_in=%d want %d", info.GetBytesIn(), m.bytesIn), fmt.Sprintf("info %v", info))
		}
		if info.BytesIn != m.bytesIn {
			return r.div(what, "bytes_in = bytes written", "more", fmt.Sprintf("bytes_in=%d want %d", info.BytesIn, m.bytesIn))
		}
	}
	if m.bannedKnown && m.bannedBytes > 0 {
		info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return i.BannedBytes >= m.bannedBytes })
		if !ok {
			return r.div(what, "banned_bytes reaches the bytes banned", fmt.Sprintf("banned_bytes=%d want %d", info.GetBannedBytes(), m.bannedBytes), fmt.Sprintf("info %v", info))
		}
	}
	if !m.pull {
		deadline := time.Now().Add(modelWait)
		for len(r.h.log.got(r.id)) < len(m.delivered) {
			if time.Now().After(deadline) {
				return r.div(what, "the handler gets the bytes", "not delivered",
					fmt.Sprintf("handler has %d bytes, want %d", len(r.h.log.got(r.id)), len(m.delivered)))
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	return nil
}

// heldAtClose: the peer's FIN is noticed while reads are paused (both
// sides have sent FIN): the bytes it sent before are read and delivered,
// then FD_CLOSE peer-close (§5).
func (r *seqRun) heldAtClose(what string) *divergence {
	m := r.m
	m.arrive(m.held)
	m.held, m.finHeld = nil, false
	m.closeByPeerFin()
	if d := r.waitClosed(what); d != nil {
		return d
	}
	return r.settle(what)
}

// banHeld: a RecvDisconnect lifted the application's pause of a socket
// still connected; what the peer sent meanwhile meets the ban's policy
// (§2, §3.3): under reset its first byte resets the connection, under
// discard it is read, dropped and counted. A FIN behind it closes.
func (r *seqRun) banHeld() *divergence {
	m := r.m
	held := m.held
	m.held = nil
	if len(held) > 0 {
		if m.policy == actors.BanReset {
			r.h.covered("ban lifts the app pause, held bytes reset")
			m.finHeld = false
			m.closeWith("recv-ban", winsock.WSAECONNABORTED, true)
			m.bytesInKnown, m.bannedKnown = false, false
			if d := r.waitClosed("RecvDisconnect while paused, bytes held (reset)"); d != nil {
				return d
			}
			d := r.expectPeerReset("RecvDisconnect while paused, bytes held (reset): peer")
			m.peerGone = true
			return d
		}
		r.h.covered("ban lifts the app pause, held bytes dropped")
		m.dropBanned(len(held))
	}
	if m.finHeld {
		r.h.covered("ban lifts the app pause, held FIN closes")
		m.finHeld = false
		m.closeByPeerFin()
		if d := r.waitClosed("RecvDisconnect while paused, FIN held"); d != nil {
			return d
		}
	}
	return r.settle("RecvDisconnect while paused")
}

// suspend is SuspendReading: §2 "Read pauses" and actors/pause.go.
func (r *seqRun) suspend() *divergence {
	m := r.m
	var want codes
	switch {
	case m.released:
		want = codes{winsock.WSAENOTSOCK}
	case m.closed && m.banned:
		// Ambiguous: §2 names WSAENOTCONN once the circuit has closed and
		// WSAESHUTDOWN after RecvDisconnect, and says neither comes first.
		want = codes{winsock.WSAENOTCONN, winsock.WSAESHUTDOWN}
	case m.closed:
		want = codes{winsock.WSAENOTCONN} // also half-open after the peer's FIN
	case m.banned:
		want = codes{winsock.WSAESHUTDOWN}
	default:
		want = codes{0} // idempotent: also when already suspended
	}
	err := r.h.rt.SuspendReading(r.ctx, r.pid)
	code, got := errCode(err)
	r.logf("SuspendReading -> %s", got)
	if !m.released && m.closed && m.banned {
		r.h.observe("SuspendReading after RecvDisconnect and FD_CLOSE %s -> %s", m.closeEv.reason, got)
	}
	if !want.has(code) {
		return r.div("SuspendReading", want.String(), got, "")
	}
	if code == 0 {
		if m.appPaused {
			r.h.covered("second SuspendReading")
		} else {
			m.pausedSince = 0
		}
		m.appPaused = true
	}
	return nil
}

// resume is ResumeReading: it lifts the application's pause; what the
// peer sent meanwhile arrives in order, then a FIN it sent.
func (r *seqRun) resume() *divergence {
	m := r.m
	var want winsock.Code
	switch {
	case m.released:
		want = winsock.WSAENOTSOCK
	case m.closed:
		want = winsock.WSAENOTCONN
	}
	err := r.h.rt.ResumeReading(r.ctx, r.pid)
	code, got := errCode(err)
	r.logf("ResumeReading -> %s", got)
	if code != want {
		return r.div("ResumeReading", codeName(want), got, "")
	}
	if code != 0 {
		return nil
	}
	if m.banned {
		r.h.covered("ResumeReading after RecvDisconnect")
	}
	if !m.appPaused {
		return nil
	}
	m.appPaused, m.pausedSince = false, 0
	if len(m.held) > 0 {
		r.h.covered("resume delivers held bytes")
		m.arrive(m.held)
		m.held = nil
	}
	if m.finHeld {
		r.h.covered("resume finds the held FIN")
		m.finHeld = false
		m.closeByPeerFin()
		if d := r.waitClosed("ResumeReading, FIN held"); d != nil {
			return d
		}
	}
	return r.settle("ResumeReading")
}

// flood: the peer sends far more than MaxInbound at once while the
// application is slow: a pull reader that takes nothing until the runtime
// has paused, then a few KiB a Recv; a pooled handler held at its first
// Received until the runtime has paused. An Inline handler runs on the
// loop, so its reads cannot outrun it: its flood is only delivered. With
// both, the application suspends reading on top of the runtime's pause:
// draining lifts the runtime's source only, ResumeReading the rest. Every
// byte must reach the application in order, and the runtime's pause must
// be lifted once the application has taken everything.
func (r *seqRun) flood() *divergence {
	m := r.m
	// More than a pooled handler's first read (at most 64 KiB, held at
	// the gate) plus MaxInbound waiting behind it.
	n := 5*modelMaxInbound/2 + r.rng.Intn(5*modelMaxInbound/2)
	data := make([]byte, n)
	_, _ = r.rng.Read(data)
	slowPush := !m.pull && r.h.mode == actors.Pooled
	both := (m.pull || slowPush) && r.rng.Intn(3) == 0
	// The number of Recvs depends on timing: their sizes come from a
	// generator of their own, so the sequence stays reproducible.
	drng := rand.New(rand.NewSource(r.rng.Int63()))
	r.logf("PeerFlood(%d) both=%v", n, both)

	var want []byte // what the application takes from here on, in order
	base := 0       // push: the handler's bytes before the flood
	if m.pull {
		want = append(append([]byte(nil), m.unread...), data...)
	} else {
		base = len(m.delivered)
		want = data
	}
	if slowPush {
		open, entered := r.h.log.slow(r.id)
		defer open()
		r.h.covered("flood: slow pooled handler")
		return r.floodRun(data, want, base, both, drng, open, entered)
	}
	if m.pull {
		r.h.covered("flood: slow pull reader")
	} else {
		r.h.covered("flood: inline handler")
	}
	return r.floodRun(data, want, base, both, drng, nil, nil)
}

// floodRun is flood's body; open and entered are the pooled handler's gate
// (nil otherwise).
func (r *seqRun) floodRun(data, want []byte, base int, both bool, drng *rand.Rand, open func(), entered <-chan struct{}) *divergence {
	m, rt, ctx, pid := r.m, r.h.rt, r.ctx, r.pid
	werr := make(chan error, 1)
	go func() {
		_ = r.peer.SetWriteDeadline(time.Now().Add(floodWait))
		_, err := r.peer.Write(data)
		werr <- err
	}()
	taken := 0 // pull: bytes of want taken by Recv
	slow := m.pull || open != nil
	if entered != nil {
		// Once the handler waits at its gate its queue only grows, so an
		// inbound pause seen from then on stays (one seen before may be
		// lifted by the handler's first take).
		select {
		case <-entered:
		case <-time.After(modelWait):
			return r.div("PeerFlood", "the pooled handler gets the first bytes", "nothing", "")
		}
	}
	if slow {
		// The application takes nothing: the runtime must pause.
		info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return strings.Contains(i.ReadPausedBy, "inbound") })
		if !ok {
			return r.div("PeerFlood", "read_paused_by has inbound while the application takes nothing",
				fmt.Sprintf("read_paused_by=%q", info.GetReadPausedBy()), fmt.Sprintf("info %v", info))
		}
		if !info.ReadPaused || info.ReadPausedSinceUnixNano == 0 {
			return r.div("PeerFlood", "read_paused and read_paused_since with read_paused_by",
				fmt.Sprintf("read_paused=%v since=%d", info.ReadPaused, info.ReadPausedSinceUnixNano), "")
		}
		r.h.covered("flood: inbound pause")
	}
	if both {
		if err := rt.SuspendReading(ctx, pid); err != nil {
			_, got := errCode(err)
			return r.div("PeerFlood: SuspendReading while inbound-paused", "0", got, "")
		}
		info, err := rt.Info(ctx, pid)
		if err != nil || info.ReadPausedBy != "app,inbound" {
			return r.div("PeerFlood: SuspendReading while inbound-paused", "read_paused_by=app,inbound",
				fmt.Sprintf("read_paused_by=%q", info.GetReadPausedBy()), fmt.Sprint(err))
		}
		// The application takes what waits: the runtime's source is lifted,
		// the application's holds.
		if m.pull {
			if d := r.drainPull(want, &taken, true, drng); d != nil {
				return d
			}
		} else {
			open()
		}
		info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return i.ReadPausedBy == "app" })
		if !ok {
			return r.div("PeerFlood", "read_paused_by=app once the application has taken what waited",
				fmt.Sprintf("read_paused_by=%q", info.GetReadPausedBy()), fmt.Sprintf("info %v", info))
		}
		if info.QueuedIn != 0 && m.pull {
			return r.div("PeerFlood", "queued_in=0 after the drain while app-paused", fmt.Sprintf("queued_in=%d", info.QueuedIn), "")
		}
		r.h.covered("flood: app pause outlives the inbound one")
		if err := rt.ResumeReading(ctx, pid); err != nil {
			_, got := errCode(err)
			return r.div("PeerFlood: ResumeReading", "0", got, "")
		}
	}
	if open != nil {
		open()
	}
	if m.pull {
		if d := r.drainPull(want, &taken, false, drng); d != nil {
			return d
		}
		m.emit(ev{kind: events.FDRead, many: true})
		m.unread, m.readPosted = nil, false
	} else {
		deadline := time.Now().Add(floodWait)
		for len(r.h.log.got(r.id)) < base+len(want) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		got := r.h.log.got(r.id)
		if len(got) < base+len(want) || !bytes.Equal(got[base:], want) {
			return r.div("PeerFlood", "the handler gets every byte, in order", fmt.Sprintf("%d of %d bytes", len(got)-base, len(want)),
				fmt.Sprintf("first difference at %d", firstDiff(got[min(base, len(got)):], want)))
		}
		m.delivered = append(m.delivered, data...)
	}
	m.bytesIn += uint64(len(data))
	select {
	case err := <-werr:
		if err != nil {
			return r.div("PeerFlood", "the peer writes every byte", errClass(err), "")
		}
	case <-time.After(floodWait):
		return r.div("PeerFlood", "the peer writes every byte", "still blocked", "")
	}
	info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return !i.ReadPaused && i.BytesIn >= m.bytesIn })
	if !ok {
		return r.div("PeerFlood", "reads resumed once the application has taken everything",
			fmt.Sprintf("read_paused_by=%q", info.GetReadPausedBy()), fmt.Sprintf("info %v", info))
	}
	if info.BytesIn != m.bytesIn {
		return r.div("PeerFlood", "bytes_in = bytes written", "more", fmt.Sprintf("bytes_in=%d want %d", info.BytesIn, m.bytesIn))
	}
	return nil
}

// drainPull takes want[*taken:] with Recvs of a few KiB, checking every
// byte's place. With untilEmpty it stops at the first WSAEWOULDBLOCK.
func (r *seqRun) drainPull(want []byte, taken *int, untilEmpty bool, drng *rand.Rand) *divergence {
	deadline := time.Now().Add(floodWait)
	for *taken < len(want) {
		max := 2<<10 + drng.Intn(16<<10)
		data, err := r.h.rt.Recv(r.ctx, r.pid, max)
		code, got := errCode(err)
		switch {
		case code == winsock.WSAEWOULDBLOCK && len(data) == 0:
			if untilEmpty {
				return nil
			}
			if time.Now().After(deadline) {
				return r.div("PeerFlood: Recv", "every byte taken", fmt.Sprintf("%d of %d bytes", *taken, len(want)), "")
			}
			time.Sleep(100 * time.Microsecond)
			continue
		case code != 0 || len(data) == 0 || len(data) > max:
			return r.div("PeerFlood: Recv", "data, 0", fmt.Sprintf("%d bytes, %s", len(data), got), fmt.Sprintf("max %d, after %d of %d bytes", max, *taken, len(want)))
		}
		end := min(*taken+len(data), len(want))
		if !bytes.Equal(data, want[*taken:end]) {
			return r.div("PeerFlood: Recv", "the bytes in order", "other bytes",
				fmt.Sprintf("at %d of %d, first difference %d", *taken, len(want), firstDiff(data, want[*taken:end])))
		}
		*taken += len(data)
	}
	return nil
}

// firstDiff is the first index where a and b differ (the shorter length
// if one is a prefix of the other).
func firstDiff(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
