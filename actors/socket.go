package actors

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// profile is what a socket takes from the listener that accepted it or the
// Dial that made it. Immutable.
type profile struct {
	handler  Handler
	dispatch Dispatch
	policy   BanPolicy
	pull     bool
	recycle  bool   // Pooled with RecycleReads: read copies are recycled (readbuf.go)
	lnID     uint64 // 0 for dialled sockets
}

// socket is the actor of one TCP connection. It is an actor.Process in the
// system's registry whose mailbox drains on the connection's own event loop,
// so its messages run serialized with the connection's I/O and it owns no
// goroutine (docs/SEMANTICS.md §1).
//
// Ownership:
//   - mu guards queue, scheduled, released, dialDone, conn (written once, at
//     connect) and, while the socket is connecting (conn == nil), subs too;
//   - fields marked "loop" belong to the event loop goroutine once the
//     socket is connected (after the engine stopped, to host.ReleaseAll);
//   - ctx, recv and userState belong to whichever goroutine runs the
//     handler: the loop (Inline) or the pooled drain goroutine (Pooled);
//   - atomics are shared by the loop and the pooled handler's goroutine.
type socket struct {
	id    uint64                    // immutable
	idStr string                    // immutable: the registry key, "sock/<id>"
	pidp  atomic.Pointer[actor.PID] // the PID, made on first use (see PID)
	host  *host                     // immutable
	prof  *profile                  // immutable

	mu        sync.Mutex
	conn      *netio.Conn // nil while a dialled socket connects (or after it failed)
	queue     []any
	scheduled bool
	released  bool
	dialDone  bool // a dial finished (either way)

	readPosted bool          // loop: FD_READ posted, not yet re-enabled by Recv
	writeWait  bool          // loop: FD_WRITE owed once the queue drains
	refused    bool          // loop: accepted over MaxConns, closing from its FD_ACCEPT on
	closeEv    *events.Event // loop: the FD_CLOSE once emitted

	// x holds what most sockets never need, so an idle socket stays small.
	// It is made at creation for pull and dialled sockets (whose other
	// goroutines read it); otherwise on first need, on the loop. Never
	// read by a pooled handler's goroutine.
	x *sockExt

	// q is the pooled handler's hand-off, made at creation for a pooled
	// socket (nil otherwise) and never replaced: what the loop and the
	// pooled goroutine share. Split from x so that an idle pooled socket
	// pays for pooledQ alone, not for the whole sockExt.
	q *pooledQ
}

// sockExt is a socket's cold state. Ownership as in socket: the loop, or
// mu while unconnected. A pooled handler's goroutine never reads it (see pooledQ).
type sockExt struct {
	subs      events.Subs  // per-socket subscriptions
	watchers  []*actor.PID // protoactor watchers, told Terminated at release
	pull      []byte       // pull-mode buffer; unread bytes are pull[pullOff:]
	pullOff   int
	plens     []int // UDP pull mode: the lengths of the datagrams in pull (datagram.go)
	userState any   // an Inline handler's (Context.SetState); a pooled one's is in pooledQ

	pausedSince time.Time // when reading last became paused, any source; zero while reading (pause.go)
	resumeOwed  bool      // an Inline handler's ResumeReading waits for its Receive to return (pause.go)
	tookLate    bool      // loop: a Recv took bytes after FD_CLOSE since the linger last started (linger.go)
	lingerSent  uint64    // loop: the connection's SendProgress when the linger last started (linger.go)
}

// hitem is one entry of a pooled handler's queue: a message, or (m nil)
// bytes read from the peer, which the handler gets as a *Received whose
// Data it owns (or, under RecycleReads, borrows for the call). Unboxed, so
// a read costs its copy and no Received.
type hitem struct {
	m    any      // a message (an envelope, an event, a replyOp); nil for data
	data []byte   // received bytes when m is nil
	rb   *readBuf // data's recycled buffer (RecycleReads), else nil
}

// pooledQ is a pooled socket's hand-off to its handler: the handler's
// queue, drained by one worker of the host's pool at a time (pool.go). The receive ban and the hand-off of Received agree
// under hmu (see ban.go).
type pooledQ struct {
	hmu        sync.Mutex
	hq         []hitem // guarded by hmu
	hrunning   bool    // guarded by hmu: a drain is scheduled or running
	hbanned    bool    // guarded by hmu: the ban is in force; no Received is handed over
	delivering bool    // guarded by hmu: a Received taken before the ban is in the handler now
	gone       bool    // guarded by hmu: the socket is released; drains are held in the door
	held       bool    // guarded by hmu: the running drain holds the door (see door)

	pendingIn  atomic.Int64 // bytes posted to the pooled handler, not yet taken
	pendingOut atomic.Int64 // bytes of pooled Writes in the mailbox or being written by the loop
	lastOut    atomic.Int64 // gnet's outbound buffer as last seen by the loop
	selfMsgs   atomic.Int32 // the handler's messages to its own socket not yet handled by the loop
	pausedIn   atomic.Bool  // reads paused for MaxInbound: the first take under a quarter asks for a resume
	closeTaken atomic.Bool  // the handler has returned from its FD_CLOSE: the linger may end (linger.go)
	userState  any          // the pooled goroutine's: the handler's (Context.SetState)
}

// queueArrays holds the one-entry arrays of emptied pooled queues: most
// hand-offs queue one entry at a time, and an idle socket keeps no array
// (its queue is nil), so the array goes back here instead of to the
// garbage collector, and a read costs no allocation for its queue entry.
var queueArrays sync.Pool // of *[1]hitem

// push appends it to the queue, taking an array from queueArrays for an
// empty one. Called with hmu held.
func (x *pooledQ) push(it hitem) {
	if x.hq == nil {
		if a, _ := queueArrays.Get().(*[1]hitem); a != nil {
			x.hq = a[:0]
		}
	}
	x.hq = append(x.hq, it)
}

// recycleQueue leaves the emptied queue nil, its array (whose first entry
// the drain cleared) given to queueArrays. Called with hmu held.
func (x *pooledQ) recycleQueue() {
	if cap(x.hq) > 0 {
		queueArrays.Put((*[1]hitem)(x.hq[:1]))
	}
	x.hq = nil
}

// ext returns x, making it on first use. Goroutine: the owner of the
// socket's loop fields (see sockExt).
func (s *socket) ext() *sockExt {
	if s.x == nil {
		s.x = &sockExt{}
	}
	return s.x
}

// PID returns the socket's PID. It is made on first use: many sockets are
// never addressed by PID object (events carry the id string), and a PID
// costs memory. Safe from any goroutine.
func (s *socket) PID() *actor.PID {
	if p := s.pidp.Load(); p != nil {
		return p
	}
	p := actor.NewPID(s.host.system.Address(), s.idStr)
	if s.pidp.CompareAndSwap(nil, p) {
		return p
	}
	return s.pidp.Load()
}

func (s *socket) subs() events.Subs {
	if s.x == nil {
		return nil
	}
	return s.x.subs
}

func (s *socket) pendingIn() int64 {
	if s.q == nil {
		return 0
	}
	return s.q.pendingIn.Load()
}

func (s *socket) pooled() bool { return s.prof.dispatch == Pooled }

// state is where the handler's Context state lives: in q for a pooled
// socket (its goroutine's), else in x, made on first use (the loop's).
// Goroutine: the one running the handler.
func (s *socket) state() *any {
	if s.q != nil {
		return &s.q.userState
	}
	return &s.ext().userState
}

// internal control messages (never leave the process).
type (
	releaseNow struct{}              // linger expired
	writeOp    struct{ data []byte } // a pooled handler's Write
	wantWrite  struct{}              // a pooled Write was refused: FD_WRITE owed
	selfDone   struct{}              // follows a pooled handler's message to its own socket (handler.go)
)

func newSocket(h *host, prof *profile, subs events.Subs, dialled bool) *socket {
	s := &socket{host: h, prof: prof, id: h.newID()}
	s.idStr = pidPrefix + strconv.FormatUint(s.id, 10)
	if len(subs) > 0 || dialled || prof.pull {
		s.ext().subs = subs
	}
	if prof.dispatch == Pooled {
		s.q = &pooledQ{}
	}
	h.register(s, s.idStr)
	return s
}

// attach binds a connection to the socket. Goroutine: the connection's loop
// (transport.OnOpen); from here on the loop owns the socket's loop fields.
func (s *socket) attach(c *netio.Conn) {
	c.Owner = s
	c.SetPolicy(s.prof.policy)
	if s.pooled() {
		c.EnableDirectWrite() // Context.Write from the pooled goroutine (handler.go)
	}
	s.mu.Lock()
	s.conn = c
	s.dialDone = true
	queued := len(s.queue) > 0
	s.mu.Unlock()
	if queued {
		s.schedule()
	}
}
