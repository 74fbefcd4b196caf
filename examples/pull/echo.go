package main

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/winsock"
)

// maxLine is how much of an unfinished line the driver holds per socket;
// past it, the line is echoed in pieces of maxLine bytes as it arrives
// (framing.Lines with Split).
const maxLine = 64 << 10

// Echo output. Echoes wait in a per-socket outbox and go out as Sends, one
// outstanding at a time (a Send is all or nothing, and a refused one must
// not let a later one overtake it).
const (
	// sendChunk is the most bytes one echo Send carries, well under the
	// runtime's SendHighWater minus SendLowWater, so a Send made after an
	// FD_WRITE fits.
	sendChunk = 32 << 10
	// maxOutbox is how many echo bytes a socket may hold before the driver
	// stops pulling from it. Unread bytes then wait in the socket actor,
	// which stops reading the socket at runtime.Options.MaxInbound (TCP's
	// flow control then holds the peer): a peer that writes and never
	// reads costs bounded memory.
	maxOutbox = 256 << 10
	// retryMin and retryMax bound the delay before a refused Send is
	// retried once FD_CLOSE has been seen (see onSend).
	retryMin = time.Millisecond
	retryMax = 32 * time.Millisecond
)

// sendRetry is the driver's own timer message: retry the refused Send of
// socket id (see onSend).
type sendRetry struct{ id uint64 }

// recv sends one Recv unless one is outstanding, nothing more can come, or
// the outbox is full (then the Send that empties it pulls again).
func (d *driver) recv(ctx actor.Context, st *sockState) {
	if st.pulling || st.drained || st.finishing {
		return
	}
	if len(st.outbox) >= maxOutbox {
		st.stalled = true
		return
	}
	st.pulling, st.readAgain = true, false
	d.stats.recvs.Add(1)
	d.request(ctx, st, reqRecv, &actors.Recv{Max: d.max})
}

// onRecv handles a Recv reply: the heart of the pull loop.
func (d *driver) onRecv(ctx actor.Context, st *sockState, data []byte, code uint32) {
	st.pulling = false
	switch {
	case code == 0 && len(data) > 0:
		d.stats.recvData.Add(1)
		if n := int64(len(data)); n > d.stats.maxChunk.Load() {
			d.stats.maxChunk.Store(n)
		}
		d.consume(ctx, st, data)
		// There may be more: keep pulling until WSAEWOULDBLOCK.
		d.recv(ctx, st)
	case code == 0:
		// 0 bytes, code 0: the peer closed and everything was read.
		st.drained = true
	case winsock.Code(code) == winsock.WSAEWOULDBLOCK:
		d.stats.wouldBlock.Add(1)
		// Drained for now, and FD_READ is enabled again: wait for it.
		// Unless an FD_READ or the FD_CLOSE came while this Recv was
		// outstanding: events come straight from the socket's event loop
		// while replies take one more hop (the reply port), so this
		// answer may predate them. Pull once more; at worst that is one
		// more WSAEWOULDBLOCK.
		if st.readAgain || st.closed {
			d.recv(ctx, st)
		}
	default:
		// WSAECONNRESET, WSAENOTCONN (closed locally), WSAENOTSOCK
		// (released), ...: nothing more will come.
		st.drained = true
	}
	d.maybeFinish(ctx, st)
}

// consume counts data and queues the echo of its complete lines,
// upper-cased, in the outbox. data is the reply's own buffer and is not
// kept.
func (d *driver) consume(ctx actor.Context, st *sockState, data []byte) {
	st.bytes += uint64(len(data))
	echo := st.outbox // appended to: a Send outstanding holds only outbox[:sending]
	for line, err := range st.line.Frames(data) {
		if err != nil {
			// A piece of a line longer than maxLine: echoed as it comes.
			echo = appendUpper(echo, line)
			continue
		}
		st.lines++
		echo = append(appendUpper(echo, line), '\n')
	}
	if st.sendDead {
		st.sendLost += uint64(len(echo) - len(st.outbox))
		return
	}
	st.outbox = echo
	d.flush(ctx, st)
}

// flush sends the head of the outbox unless a Send is outstanding or the
// last one was refused and waits for its retry.
func (d *driver) flush(ctx actor.Context, st *sockState) {
	if st.sending > 0 || st.blocked || st.sendDead || len(st.outbox) == 0 {
		return
	}
	st.sending = min(len(st.outbox), sendChunk)
	st.writeAgain = false
	if st.closed {
		d.stats.closedSends.Add(1)
	}
	// The Send holds outbox[:sending] until its reply: consume only
	// appends past it, and onSend only moves past it.
	d.request(ctx, st, reqSend, &actors.Send{Data: st.outbox[:st.sending:st.sending]})
}

// onSend handles the reply to an echo Send.
//
// WSAEWOULDBLOCK (the peer reads slower than it writes, so the socket's
// output passed SendHighWater; nothing was queued) keeps the bytes for a
// retry. While the socket is open the retry waits for FD_WRITE, as a
// Winsock program does. Once FD_CLOSE has been seen no FD_WRITE will come
// (FD_CLOSE stays the last event, docs/SEMANTICS.md §4), yet a half-closed
// peer may still be reading its answer: the driver then retries the same
// Send on a timer, after 1 ms, doubling up to 32 ms while it keeps being
// refused. That was chosen over polling Info.queued_out because a retried
// Send is one request instead of two and answers the same question (can
// the socket take these bytes now?) without a race between the two. The
// retries are bounded: when the socket's linger expires (Options.Linger)
// it is released, the next Send answers WSAENOTSOCK, and the rest of the
// echo is dropped and reported.
//
// Any other code (WSAECONNRESET, WSAENOTCONN, WSAENOTSOCK, WSAENETDOWN,
// ...) means the echo can never go out: the outbox is dropped, later
// echoes too, and the loss is reported on stderr when the socket finishes.
func (d *driver) onSend(ctx actor.Context, st *sockState, code uint32) {
	n := st.sending
	st.sending = 0
	switch {
	case code == 0:
		st.outbox = st.outbox[n:]
		if len(st.outbox) == 0 {
			st.outbox = nil // a fresh buffer next time; the sent one is not reused
		}
		st.retryDelay = 0
		if st.stalled && len(st.outbox) < maxOutbox {
			st.stalled = false
			d.recv(ctx, st)
		}
		d.flush(ctx, st)
	case winsock.Code(code) == winsock.WSAEWOULDBLOCK:
		d.stats.sendBlocked.Add(1)
		if st.closed {
			d.stats.sendBlockedClosed.Add(1)
		}
		st.blocked = true
		switch {
		case st.writeAgain:
			// An FD_WRITE came after this Send was made: it may be the
			// one its refusal armed. Retry now (at worst, once more
			// refused, which arms the next FD_WRITE).
			d.unblock(ctx, st)
		case st.closed:
			d.scheduleRetry(ctx, st)
		}
		// Otherwise wait for FD_WRITE, or for FD_CLOSE, which starts
		// the timer.
	default:
		st.sendDead, st.sendLastCode = true, code
		st.sendLost += uint64(len(st.outbox))
		st.outbox = nil
		if st.stalled {
			st.stalled = false
			d.recv(ctx, st) // go on pulling: the input is still counted
		}
	}
	d.maybeFinish(ctx, st)
}

// unblock retries a refused Send.
func (d *driver) unblock(ctx actor.Context, st *sockState) {
	if !st.blocked {
		return
	}
	st.blocked = false
	d.flush(ctx, st)
}

// scheduleRetry arms the timer that retries a refused Send after FD_CLOSE.
func (d *driver) scheduleRetry(ctx actor.Context, st *sockState) {
	st.retryDelay = min(max(2*st.retryDelay, retryMin), retryMax)
	root, self, id := ctx.ActorSystem().Root, ctx.Self(), st.id
	st.retry = time.AfterFunc(st.retryDelay, func() { root.Send(self, sendRetry{id}) })
}

// appendUpper appends p to dst with ASCII a-z upper-cased; other bytes
// (UTF-8 included) are copied unchanged, so a line split across Recv
// replies upper-cases the same as whole.
func appendUpper(dst, p []byte) []byte {
	for _, b := range p {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}
