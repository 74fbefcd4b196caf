package runtime_test

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// ---- event recording ----

// ev is the comparable part of an event. In the model's lists, many marks
// "any number (zero or more) of this kind" where the count depends on how
// the runtime's reads and the application's takes interleave (FD_READ while
// a flood is pulled).
type ev struct {
	kind   events.Kind
	code   uint32
	reason string
	local  bool
	many   bool
}

func evOf(e *events.Event) ev {
	return ev{kind: e.EventKind(), code: e.Code, reason: e.Reason, local: e.Local}
}

func (e ev) String() string {
	if e.many {
		return e.kind.String() + "*"
	}
	switch e.kind {
	case events.FDClose, events.FDAccept:
		return fmt.Sprintf("%v(%d %s local=%v)", e.kind, e.code, e.reason, e.local)
	}
	if e.code != 0 {
		return fmt.Sprintf("%v(%d)", e.kind, e.code)
	}
	return e.kind.String()
}

// same compares kinds and codes, and for FD_ACCEPT and FD_CLOSE also
// reason and local.
func (e ev) same(o ev) bool {
	if e.kind != o.kind || e.code != o.code {
		return false
	}
	if e.kind == events.FDClose || e.kind == events.FDAccept {
		return e.reason == o.reason && e.local == o.local
	}
	return true
}

func evList(l []ev) string {
	if len(l) == 0 {
		return "[]"
	}
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// evRecorder is a subscriber actor keeping events per socket, with a
// barrier: events published before the barrier was sent are recorded when
// it returns (the hub enqueues synchronously, the mailbox keeps order).
type evRecorder struct {
	pid *actor.PID

	mu      sync.Mutex
	byID    map[uint64][]*events.Event
	accepts map[string]uint64 // "local|remote" -> socket id
}

type recBarrier struct{ done chan struct{} }

func newEvRecorder(sys *actor.ActorSystem) *evRecorder {
	r := &evRecorder{byID: map[uint64][]*events.Event{}, accepts: map[string]uint64{}}
	r.pid = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			r.mu.Lock()
			r.byID[m.SocketId] = append(r.byID[m.SocketId], m)
			if m.EventKind() == events.FDAccept {
				r.accepts[m.LocalAddr+"|"+m.RemoteAddr] = m.SocketId
			}
			r.mu.Unlock()
		case *recBarrier:
			close(m.done)
		}
	}))
	return r
}

func (r *evRecorder) barrier(sys *actor.ActorSystem) bool {
	b := &recBarrier{done: make(chan struct{})}
	sys.Root.Send(r.pid, b)
	select {
	case <-b.done:
		return true
	case <-time.After(modelWait):
		return false
	}
}

func (r *evRecorder) of(id uint64) []ev {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ev, 0, len(r.byID[id]))
	for _, e := range r.byID[id] {
		out = append(out, evOf(e))
	}
	return out
}

func (r *evRecorder) accepted(key string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.accepts[key]
	return id, ok
}

func (r *evRecorder) forget(id uint64, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byID, id)
	delete(r.accepts, key)
}

// pushLog is the handler of every model listener: it keeps, per socket, the
// bytes Received. A socket with a gate (slow) has its handler wait in
// Receive until the gate is closed: a pooled handler held there lets its
// queue grow, as a slow application's would.
type pushLog struct {
	m     sync.Map // socket id -> *pushBuf
	gates sync.Map // socket id -> *gate
}

// gate holds a handler in Receive until open is closed; entered is closed
// when the handler first waits there.
type gate struct {
	open, entered chan struct{}
	once          sync.Once
}

// slow gates socket id's handler and returns the function that opens the
// gate (idempotent), and a channel closed once the handler waits at it.
// Only for pooled dispatch: an Inline handler held would hold its event
// loop.
func (p *pushLog) slow(id uint64) (open func(), entered <-chan struct{}) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	p.gates.Store(id, g)
	var once sync.Once
	return func() {
		once.Do(func() {
			p.gates.Delete(id)
			close(g.open)
		})
	}, g.entered
}

type pushBuf struct {
	mu   sync.Mutex
	data []byte
}

func (p *pushLog) Receive(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		if v, ok := p.gates.Load(c.ID()); ok {
			g := v.(*gate)
			g.once.Do(func() { close(g.entered) })
			select {
			case <-g.open:
			case <-time.After(4 * modelWait): // a sequence that failed with its gate shut
			}
		}
		v, _ := p.m.LoadOrStore(c.ID(), &pushBuf{})
		b := v.(*pushBuf)
		b.mu.Lock()
		b.data = append(b.data, m.Data...)
		b.mu.Unlock()
	}
}

func (p *pushLog) got(id uint64) []byte {
	v, ok := p.m.Load(id)
	if !ok {
		return nil
	}
	b := v.(*pushBuf)
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.data...)
}
