package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// The watch command's output: the snapshot and event lines it prints, and
// the commands it reads on stdin.

func (w *watcher) snapshot(c actor.Context, s *events.Snapshot) {
	w.synced, w.down, w.addr = true, false, s.Address
	w.backoff = retryMin
	for _, old := range w.stale {
		c.Send(w.node, actors.NewUnsubscribe(old))
	}
	w.stale = nil
	ids := []uint64{}
	for _, e := range s.Sockets {
		if e.ListenerId != 0 { // accepted connections only
			ids = append(ids, e.SocketId)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	w.out.json(struct {
		Kind    string   `json:"kind"`
		Sockets []uint64 `json:"sockets"`
		Seq     uint64   `json:"seq"`
	}{"SNAPSHOT", ids, s.Seq})
	w.snapSeq, w.seq = s.Seq, s.Seq
	early := w.early
	w.early = nil
	for _, ev := range early {
		w.event(ev)
	}
}

// subscriber is the subscriber a snapshot request names: a process of the
// registry rather than an actor, which hands the watcher the events
// tagged with the attempt's number and ignores system messages. So the
// watch the gateway puts on its subscribers (to drop them when they stop)
// is never answered: taking it out of the registry sends nothing to the
// gateway, which may be unreachable (and protoactor's connection attempts
// to an unreachable node would hold up watch's stop for seconds). The
// gateway drops it on Unsubscribe or when it loses this node.
type subscriber struct {
	try uint64
	to  func(any)
}

func (s *subscriber) SendUserMessage(_ *actor.PID, m any) {
	if ev, ok := actor.UnwrapEnvelopeMessage(m).(*events.Event); ok {
		s.to(gatewayEvent{try: s.try, ev: ev})
	}
}
func (*subscriber) SendSystemMessage(*actor.PID, any) {}
func (*subscriber) Stop(*actor.PID)                   {}

// eventLine is the JSON line of one event.
type eventLine struct {
	Kind     string `json:"kind"`
	Socket   uint64 `json:"socket"`
	Code     uint32 `json:"code"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
	Local    bool   `json:"local"`
	Remote   string `json:"remote"`
	Listener uint64 `json:"listener"`
	Seq      uint64 `json:"seq"`
}

func (w *watcher) event(ev *events.Event) {
	if ev.Seq <= w.snapSeq {
		return // in the snapshot already
	}
	w.seq = max(w.seq, ev.Seq)
	name := ""
	if ev.Code != 0 {
		name = winsock.Code(ev.Code).Name()
	}
	w.out.json(eventLine{Kind: ev.EventKind().String(), Socket: ev.SocketId, Code: ev.Code, Error: name,
		Reason: ev.Reason, Local: ev.Local, Remote: ev.RemoteAddr, Listener: ev.ListenerId, Seq: ev.Seq})
}

// command runs SHUTRD or CLOSE: a request to the socket's PID over remote,
// answered when the reply (or a dead letter, or the timeout) comes back.
func (w *watcher) command(c actor.Context, line string) {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	id, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 64)
	var req any
	switch strings.ToUpper(verb) {
	case "SHUTRD":
		req = &actors.RecvDisconnect{}
	case "CLOSE":
		req = &actors.Close{}
	}
	if req == nil || err != nil {
		w.out.line(fmt.Sprintf("ERR %s %d unknown command", winsock.WSAEINVAL.Name(), uint32(winsock.WSAEINVAL)))
		return
	}
	switch {
	case w.down:
		w.out.line(netDown)
		return
	case !w.synced:
		w.out.line(fmt.Sprintf("ERR %s %d not synced with the gateway yet", winsock.WSANOTINITIALISED.Name(), uint32(winsock.WSANOTINITIALISED)))
		return
	}
	verb = strings.ToUpper(verb)
	pid := actor.NewPID(w.addr, "sock/"+strconv.FormatUint(id, 10))
	w.cmdSeq++
	n := w.cmdSeq
	w.pending[n] = true
	f := c.RequestFuture(pid, req, requestTimeout)
	c.ReenterAfter(f, func(res any, err error) {
		if !w.pending[n] {
			return // answered when the gateway was lost
		}
		delete(w.pending, n)
		code := winsock.OK
		switch r := res.(type) {
		case *actors.RecvDisconnectResult:
			code = winsock.Code(r.Code)
		case *actors.CloseResult:
			code = winsock.Code(r.Code)
		case *actors.Error:
			code = winsock.Code(r.Code)
		case *actor.DeadLetterResponse:
			code = winsock.WSAENOTSOCK
		default:
			switch {
			case errors.Is(err, actor.ErrDeadLetter):
				code = winsock.WSAENOTSOCK
			case errors.Is(err, actor.ErrTimeout):
				code = winsock.WSAETIMEDOUT
			default:
				code = winsock.WSAEINVAL
			}
		}
		if code == winsock.OK {
			w.out.line(fmt.Sprintf("OK %s %d", verb, id))
			return
		}
		w.out.line(fmt.Sprintf("ERR %s %d", code.Name(), uint32(code)))
	})
}

// lineWriter writes whole lines to stdout, one writer at a time.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s+"\n")
}

func (l *lineWriter) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	l.line(string(b))
}
