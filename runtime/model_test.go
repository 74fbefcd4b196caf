package runtime_test

// A model-based test of one accepted TCP socket: a plain-Go reference model
// of the contract (docs/SEMANTICS.md), driven by seeded random operations
// against the live runtime.
//
// Each sequence runs on a fresh connection to one listener of a runtime
// shared per dispatch mode; the listener (push or pull delivery, ban policy
// reset or discard) is drawn from the sequence's seed. After every
// operation the runtime's reply is compared with the model's; peer-side
// effects are checked where they are deterministic; when the sequence ends
// (always with the socket released) the events a runtime-wide subscriber
// and every per-socket subscriber got are compared with the model's.
//
// The model is made deterministic by synchronisation, never by sleeping: a
// peer write is followed by polling Info until bytes_in shows it (and, in
// push mode, until the handler has it), a peer FIN or RST by polling until
// Info.state is "closed"; the peer reads what a Send sent before the next
// operation.
//
// Where the contract leaves a choice open the model accepts each of the
// allowed answers (see the "ambiguous" notes at the operations).
//
// Flags: -model.seed (seed of the first sequence; sequence i uses seed+i),
// -model.seqs (sequences per dispatch mode), -model.ops (random operations
// per sequence), -model.par (sequences run at once per mode). Reproduce a
// reported sequence with -run 'TestModel/<mode>$' -model.seed=<seed>
// -model.seqs=1.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	sockrt "github.com/sockactor/sockactor/runtime"
)

var (
	modelSeed = flag.Int64("model.seed", 0, "TestModel: seed of the first sequence, sequence i uses seed+i (0: pick one)")
	modelSeqs = flag.Int("model.seqs", 150, "TestModel: sequences per dispatch mode")
	modelOps  = flag.Int("model.ops", 24, "TestModel: random operations per sequence (a Close is added if the socket is still open)")
	modelPar  = flag.Int("model.par", 4, "TestModel: sequences run concurrently per dispatch mode")
	modelV    = flag.Bool("model.v", false, "TestModel: log every sequence's history and events")
)

// modelWait bounds every synchronisation wait of a sequence.
const modelWait = 3 * time.Second

// ---- event recording ----

// ev is the comparable part of an event.
type ev struct {
	kind   events.Kind
	code   uint32
	reason string
	local  bool
}

func evOf(e *events.Event) ev {
	return ev{kind: e.EventKind(), code: e.Code, reason: e.Reason, local: e.Local}
}

func (e ev) String() string {
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
// bytes Received.
type pushLog struct{ m sync.Map } // socket id -> *pushBuf

type pushBuf struct {
	mu   sync.Mutex
	data []byte
}

func (p *pushLog) Receive(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
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

// ---- the model ----

// modelSock is the reference model of one accepted TCP socket.
type modelSock struct {
	pull   bool
	policy actors.BanPolicy

	released bool // Close/Abort answered: every later request is WSAENOTSOCK
	closed   bool // FD_CLOSE emitted (the circuit has gone, or half-open after peer FIN)
	closeEv  ev
	banned   bool // RecvDisconnect succeeded
	sendShut bool // SendDisconnect succeeded

	peerFin  bool // the peer half-closed (CloseWrite)
	peerGone bool // the peer connection is reset (by the peer or by us)
	peerEOF  bool // the peer has read our FIN

	unread          []byte // pull mode: received, not yet pulled
	unreadAmbiguous bool   // unread data when the peer reset: Recv may return it or WSAECONNRESET
	readPosted      bool   // FD_READ posted, not re-enabled by a Recv
	delivered       []byte // push mode: bytes the handler must have got

	bytesIn, bytesOut, bannedBytes uint64
	bytesInKnown, bannedKnown      bool

	events []ev // what a runtime-wide MaskAll subscriber gets
	subs   []*modelSub
}

type modelSub struct {
	mask events.Mask
	want []ev
	rec  *evRecorder
}

func (m *modelSock) emit(e ev) {
	m.events = append(m.events, e)
	for _, s := range m.subs {
		if s.mask.Has(e.kind) {
			s.want = append(s.want, e)
		}
	}
}

func (m *modelSock) closeWith(reason string, code netio.Code, local bool) {
	if m.closed {
		return
	}
	m.closed = true
	m.closeEv = ev{kind: events.FDClose, code: uint32(code), reason: reason, local: local}
	m.emit(m.closeEv)
}

// resetClosed: the circuit ended by a reset (peer RST, or ours for a ban
// violation); nothing can be sent any more.
func (m *modelSock) resetClosed() bool {
	return m.closed && (m.closeEv.reason == "peer-reset" || m.closeEv.reason == "recv-ban")
}

// resetCodes are the acceptable answers of Send/SendDisconnect after a
// reset. Ambiguous: the contract's table says WSAENOTCONN for "already
// closed" and WSAECONNRESET for "the peer reset the connection"
// (WSAECONNABORTED for a local abort); Winsock answers send() after a reset
// with WSAECONNRESET/WSAECONNABORTED. Either is accepted.
func (m *modelSock) resetCodes() codes {
	if m.closeEv.reason == "recv-ban" {
		return codes{netio.WSAENOTCONN, netio.WSAECONNABORTED}
	}
	return codes{netio.WSAENOTCONN, netio.WSAECONNRESET}
}

func (m *modelSock) peerCanWrite() bool { return !m.released && !m.peerFin && !m.peerGone }

func (m *modelSock) String() string {
	var s []string
	if m.pull {
		s = append(s, "pull")
	} else {
		s = append(s, "push")
	}
	s = append(s, m.policy.String())
	switch {
	case m.released:
		s = append(s, "released")
	case m.closed:
		s = append(s, "closed("+m.closeEv.reason+")")
	default:
		s = append(s, "up")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{m.banned, "banned"}, {m.sendShut, "send-shut"}, {m.peerFin, "peer-fin"}, {m.peerGone, "peer-gone"}} {
		if f.on {
			s = append(s, f.name)
		}
	}
	if len(m.unread) > 0 {
		s = append(s, fmt.Sprintf("unread=%d", len(m.unread)))
	}
	return strings.Join(s, " ")
}

// codes is a set of acceptable reply codes.
type codes []netio.Code

func (c codes) has(x netio.Code) bool {
	for _, y := range c {
		if y == x {
			return true
		}
	}
	return false
}

func (c codes) String() string {
	s := make([]string, len(c))
	for i, x := range c {
		s[i] = codeName(x)
	}
	return strings.Join(s, "|")
}

func codeName(c netio.Code) string {
	if c == 0 {
		return "0"
	}
	return c.Name()
}

// errCode extracts the reply code of a Caller error.
func errCode(err error) (netio.Code, string) {
	if err == nil {
		return 0, "0"
	}
	var oe *netio.OpError
	if errors.As(err, &oe) {
		return oe.Code, codeName(oe.Code)
	}
	return netio.Code(1<<32 - 1), err.Error()
}

// ---- operations ----

type opKind int

const (
	opPeerWrite opKind = iota
	opPeerFin
	opPeerRst
	opSend
	opRecv
	opRecvDisconnect
	opSendDisconnect
	opClose
	opAbort
	opSubscribe
	opInfo
	opConnect
)

var opNames = [...]string{
	opPeerWrite: "PeerWrite", opPeerFin: "PeerFIN", opPeerRst: "PeerRST", opSend: "Send", opRecv: "Recv",
	opRecvDisconnect: "RecvDisconnect", opSendDisconnect: "SendDisconnect", opClose: "Close", opAbort: "Abort",
	opSubscribe: "Subscribe", opInfo: "Info", opConnect: "Connect",
}

func (o opKind) String() string { return opNames[o] }

// divergence is one difference between the runtime and the model.
type divergence struct {
	mode      actors.Dispatch
	seed      int64
	op        int    // index in the sequence
	name      string // operation (or "events", ...)
	want, got string // the classes compared (no payload)
	detail    string
	state     string // the model's state before the operation
	hist      []string
}

func (d *divergence) sig() string { return d.name + ": want " + d.want + ", got " + d.got }

// modelHarness is the runtime shared by the sequences of one mode.
type modelHarness struct {
	rt    *sockrt.Runtime
	mode  actors.Dispatch
	addrs map[string]string // "pull/reset" etc. -> listener address
	rec   *evRecorder
	log   *pushLog
	ops   atomic.Int64

	obsMu sync.Mutex
	obs   map[string]int // which answer the runtime gave where the model accepts several
	cov   map[string]int // how often the interesting transitions of the model ran
}

func (h *modelHarness) covered(what string) {
	h.obsMu.Lock()
	defer h.obsMu.Unlock()
	h.cov[what]++
}

func (h *modelHarness) observe(format string, args ...any) {
	h.obsMu.Lock()
	defer h.obsMu.Unlock()
	h.obs[fmt.Sprintf(format, args...)]++
}

func lnName(pull bool, p actors.BanPolicy) string {
	if pull {
		return "pull/" + p.String()
	}
	return "push/" + p.String()
}

func startModelHarness(t *testing.T, mode actors.Dispatch) *modelHarness {
	t.Helper()
	fds := fdCount(t)
	// A minute of linger: no sequence sees a self-release it did not ask for.
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h := &modelHarness{rt: rt, mode: mode, addrs: map[string]string{}, log: &pushLog{}, obs: map[string]int{}, cov: map[string]int{}}
	lns := map[string]*sockrt.Listener{}
	for _, pull := range []bool{false, true} {
		for _, p := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
			ln, err := rt.Listen("tcp://127.0.0.1:0", h.log, actors.ListenOptions{Dispatch: mode, Pull: pull, BanPolicy: p})
			if err != nil {
				t.Fatal(err)
			}
			lns[lnName(pull, p)] = ln
		}
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	for name, ln := range lns {
		h.addrs[name] = ln.Addr().String()
	}
	h.rec = newEvRecorder(rt.System())
	if err := rt.Subscribe(h.rec.pid, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
	})
	return h
}

// seqRun is one sequence.
type seqRun struct {
	h    *modelHarness
	seed int64
	rng  *rand.Rand
	m    *modelSock
	ctx  context.Context
	peer *net.TCPConn
	id   uint64
	pid  *actor.PID
	key  string
	op   int
	cur  string // the model state before the current operation
	hist []string
	subs []*evRecorder
}

func (r *seqRun) logf(format string, args ...any) {
	r.hist = append(r.hist, fmt.Sprintf("%d:", r.op)+fmt.Sprintf(format, args...))
}

func (r *seqRun) div(name, want, got, detail string) *divergence {
	return &divergence{mode: r.h.mode, seed: r.seed, op: r.op, name: name, want: want, got: got, detail: detail,
		state: r.cur, hist: append([]string(nil), r.hist...)}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.Intn(26))
	}
	return b
}

func short(b []byte) string {
	if len(b) > 24 {
		return fmt.Sprintf("%q...(%d)", b[:24], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// runSeq runs one sequence and returns its divergences (at most one from
// the operations: the model and the runtime part ways there; then the
// event checks of a sequence that got to its end).
func (h *modelHarness) runSeq(seed int64) []*divergence {
	rng := rand.New(rand.NewSource(seed))
	pull := rng.Intn(5) < 3
	policy := actors.BanReset
	if rng.Intn(2) == 1 {
		policy = actors.BanDiscard
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &seqRun{h: h, seed: seed, rng: rng, ctx: ctx,
		m: &modelSock{pull: pull, policy: policy, bytesInKnown: true, bannedKnown: true}}
	r.cur = r.m.String()
	addr := h.addrs[lnName(pull, policy)]
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return []*divergence{r.div("setup", "dial", err.Error(), "")}
	}
	r.peer = c.(*net.TCPConn)
	r.key = addr + "|" + c.LocalAddr().String()
	defer func() {
		r.peer.Close()
		if !r.m.released {
			_ = h.rt.Abort(ctx, r.pid)
		}
		for _, s := range r.subs {
			h.rt.System().Root.Stop(s.pid)
		}
		h.rec.forget(r.id, r.key)
		h.log.m.Delete(r.id)
	}()
	deadline := time.Now().Add(modelWait)
	for {
		id, ok := h.rec.accepted(r.key)
		if ok {
			r.id = id
			break
		}
		if time.Now().After(deadline) {
			return []*divergence{r.div("setup", "FD_ACCEPT", "none", "")}
		}
		time.Sleep(200 * time.Microsecond)
	}
	r.pid = h.rt.SocketPID(r.id)
	r.logf("open %s socket %d", lnName(pull, policy), r.id)
	// Decision 4: FD_WRITE once right after FD_ACCEPT.
	r.m.emit(ev{kind: events.FDAccept, reason: "accept"})
	r.m.emit(ev{kind: events.FDWrite})

	afterRelease := 0
	for i := 0; i < *modelOps; i++ {
		if r.m.released {
			if afterRelease == 2 {
				break
			}
			afterRelease++
		}
		r.op++
		if d := r.do(r.pick()); d != nil {
			return []*divergence{d}
		}
	}
	if !r.m.released {
		r.op++
		if d := r.do(opClose); d != nil {
			return []*divergence{d}
		}
	}
	r.op++
	if d := r.do(opInfo); d != nil { // released: WSAENOTSOCK
		return []*divergence{d}
	}
	return r.checkEvents()
}

func (r *seqRun) pick() opKind {
	m := r.m
	type wop struct {
		op opKind
		w  int
	}
	var cand []wop
	if m.released {
		cand = []wop{{opSend, 1}, {opRecv, 1}, {opRecvDisconnect, 1}, {opSendDisconnect, 1}, {opClose, 1},
			{opAbort, 1}, {opSubscribe, 1}, {opInfo, 1}, {opConnect, 1}}
	} else {
		if m.peerCanWrite() {
			cand = append(cand, wop{opPeerWrite, 8}, wop{opPeerFin, 1}, wop{opPeerRst, 1})
		}
		cand = append(cand, wop{opSend, 5}, wop{opRecv, 7}, wop{opRecvDisconnect, 2}, wop{opSendDisconnect, 1},
			wop{opClose, 1}, wop{opAbort, 1}, wop{opInfo, 3}, wop{opConnect, 1})
		if len(m.subs) < 3 {
			cand = append(cand, wop{opSubscribe, 1})
		}
	}
	sum := 0
	for _, c := range cand {
		sum += c.w
	}
	n := r.rng.Intn(sum)
	for _, c := range cand {
		if n < c.w {
			return c.op
		}
		n -= c.w
	}
	panic("unreachable")
}

// waitInfo polls Info until cond holds; it returns the last answer.
func (r *seqRun) waitInfo(cond func(*actors.SocketInfo) bool) (*actors.SocketInfo, bool) {
	deadline := time.Now().Add(modelWait)
	var last *actors.SocketInfo
	for {
		info, err := r.h.rt.Info(r.ctx, r.pid)
		if err == nil {
			last = info
			if cond(info) {
				return info, true
			}
		}
		if time.Now().After(deadline) {
			return last, false
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (r *seqRun) waitClosed(what string) *divergence {
	info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return i.State == "closed" })
	if !ok {
		return r.div(what, "Info.state=closed", "state="+info.GetState(), fmt.Sprintf("info %v", info))
	}
	return nil
}

func (r *seqRun) peerRead(n int) ([]byte, error) {
	_ = r.peer.SetReadDeadline(time.Now().Add(modelWait))
	buf := make([]byte, n)
	k, err := io.ReadFull(r.peer, buf)
	return buf[:k], err
}

// peerEnd reads once and returns the error (EOF, reset, timeout).
func (r *seqRun) peerEnd() error {
	_ = r.peer.SetReadDeadline(time.Now().Add(modelWait))
	buf := make([]byte, 64)
	n, err := r.peer.Read(buf)
	if n > 0 {
		return fmt.Errorf("%d unexpected bytes %s", n, short(buf[:n]))
	}
	return err
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "no error"
	case err == io.EOF:
		return "EOF"
	case isReset(err):
		return "ECONNRESET"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

func (r *seqRun) expectPeerReset(what string) *divergence {
	if r.m.peerEOF { // after our FIN the peer's read may say EOF or EPIPE: not deterministic
		return nil
	}
	if err := r.peerEnd(); !isReset(err) {
		return r.div(what, "peer read ECONNRESET", errClass(err), "")
	}
	return nil
}

func (r *seqRun) expectPeerEOF(what string) *divergence {
	if err := r.peerEnd(); err != io.EOF {
		return r.div(what, "peer read EOF", errClass(err), "")
	}
	r.m.peerEOF = true
	return nil
}

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
		m.bytesIn += uint64(len(data))
		switch {
		case !m.banned:
			if m.pull {
				m.unread = append(m.unread, data...)
				if !m.readPosted {
					m.emit(ev{kind: events.FDRead})
					m.readPosted = true
				}
			} else {
				m.delivered = append(m.delivered, data...)
			}
		case m.policy == actors.BanDiscard:
			r.h.covered("peer write after ban (discard)")
			m.bannedBytes += uint64(len(data))
		default:
			// §3.3 reset: data after the ban resets the connection.
			r.h.covered("peer write after ban (reset)")
			m.closeWith("recv-ban", netio.WSAECONNABORTED, true)
			m.bytesInKnown, m.bannedKnown = false, false
			if d := r.waitClosed("PeerWrite after ban (reset)"); d != nil {
				return d
			}
			d := r.expectPeerReset("PeerWrite after ban (reset): peer")
			m.peerGone = true
			return d
		}
		info, ok := r.waitInfo(func(i *actors.SocketInfo) bool { return i.BytesIn >= m.bytesIn })
		if !ok {
			return r.div("PeerWrite", "bytes_in reaches the bytes written", fmt.Sprintf("bytes_in=%d want %d", info.GetBytesIn(), m.bytesIn), fmt.Sprintf("info %v", info))
		}
		if info.BytesIn != m.bytesIn {
			return r.div("PeerWrite", "bytes_in = bytes written", "more", fmt.Sprintf("bytes_in=%d want %d", info.BytesIn, m.bytesIn))
		}
		if !m.pull && !m.banned {
			deadline := time.Now().Add(modelWait)
			for len(r.h.log.got(r.id)) < len(m.delivered) {
				if time.Now().After(deadline) {
					return r.div("PeerWrite", "the handler gets the bytes", "not delivered",
						fmt.Sprintf("handler has %d bytes, want %d", len(r.h.log.got(r.id)), len(m.delivered)))
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		return nil

	case opPeerFin:
		_ = r.peer.CloseWrite()
		r.logf("PeerFIN")
		m.peerFin = true
		m.closeWith("peer-close", 0, false)
		return r.waitClosed("PeerFIN")

	case opPeerRst:
		_ = r.peer.SetLinger(0)
		_ = r.peer.Close()
		r.logf("PeerRST")
		m.peerGone = true
		if len(m.unread) > 0 {
			m.unreadAmbiguous = true
		}
		m.closeWith("peer-reset", netio.WSAECONNRESET, false)
		return r.waitClosed("PeerRST")

	case opSend:
		data := randBytes(r.rng, 1+r.rng.Intn(64))
		var want codes
		switch {
		case m.released:
			want = codes{netio.WSAENOTSOCK}
		case m.sendShut:
			want = codes{netio.WSAESHUTDOWN} // §2 table: send after SendDisconnect
			if m.resetClosed() {
				want = append(want, m.resetCodes()...)
			}
		case m.resetClosed():
			want = m.resetCodes()
		default:
			want = codes{0} // also half-open after peer FIN (decision 3)
		}
		n, err := rt.Send(ctx, pid, data)
		code, got := errCode(err)
		r.logf("Send(%d) -> n=%d %s", len(data), n, got)
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
			return check("WSAENOTSOCK", code == netio.WSAENOTSOCK)
		case m.banned:
			return check("WSAESHUTDOWN", code == netio.WSAESHUTDOWN && len(data) == 0)
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
			if code == netio.WSAECONNRESET && len(data) == 0 {
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
				return check("WSAEWOULDBLOCK", code == netio.WSAEWOULDBLOCK)
			case m.closeEv.reason == "peer-close":
				r.h.covered("Recv after peer FIN, drained")
				return check("0 bytes, 0", code == 0 && len(data) == 0) // §5
			case m.closeEv.reason == "peer-reset":
				return check("WSAECONNRESET", code == netio.WSAECONNRESET)
			}
			return check("(unmodelled)", false)
		}

	case opRecvDisconnect:
		data, err := rt.RecvDisconnect(ctx, pid)
		code, got := errCode(err)
		r.logf("RecvDisconnect -> %d bytes %s", len(data), got)
		if m.released {
			if code != netio.WSAENOTSOCK {
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
		if len(m.unread) == 0 {
			return nil
		}
		if !m.closed && m.policy == actors.BanReset {
			// §3.3: queued data at ban time under reset: reset right then.
			r.h.covered("ban with unread data (reset)")
			m.closeWith("recv-ban", netio.WSAECONNABORTED, true)
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

	case opSendDisconnect:
		var want codes
		switch {
		case m.released:
			want = codes{netio.WSAENOTSOCK}
		case m.sendShut:
			// Ambiguous: a second shutdown(SD_SEND) (Winsock answers 0).
			want = codes{0, netio.WSAESHUTDOWN}
			if m.closed {
				want = append(want, netio.WSAENOTCONN)
			}
		case m.resetClosed():
			want = m.resetCodes()
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
		case m.resetClosed():
			r.h.observe("SendDisconnect after FD_CLOSE %s -> %s", m.closeEv.reason, got)
		}
		if !want.has(code) {
			return r.div("SendDisconnect", want.String(), got, "")
		}
		if code == 0 && !m.sendShut && !m.released {
			m.sendShut = true
			if !m.peerGone {
				return r.expectPeerEOF("SendDisconnect: peer")
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
			if code != netio.WSAENOTSOCK {
				return r.div(op.String(), "WSAENOTSOCK", got, "")
			}
			return nil
		}
		if code != 0 {
			return r.div(op.String(), "0", got, "")
		}
		m.released = true
		if op == opClose {
			m.closeWith("local-close", 0, true)
			if !m.peerGone && !m.peerEOF {
				return r.expectPeerEOF("Close: peer")
			}
			return nil
		}
		m.closeWith("local-abort", netio.WSAECONNABORTED, true)
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
			if code != netio.WSAENOTSOCK {
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
			if code != netio.WSAENOTSOCK {
				return r.div("Info", "WSAENOTSOCK", got, "")
			}
			return nil
		}
		if code != 0 {
			r.logf("Info -> %s", got)
			return r.div("Info", "0", got, "")
		}
		r.logf("Info -> state=%s recv_shut=%v send_shut=%v in=%d out=%d banned=%d queued_in=%d queued_out=%d",
			info.State, info.RecvShut, info.SendShut, info.BytesIn, info.BytesOut, info.BannedBytes, info.QueuedIn, info.QueuedOut)
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
		cmp("bytes_out", m.bytesOut, info.BytesOut, false)
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
		code := netio.Code(1<<32 - 1)
		got := fmt.Sprintf("%T %v", res, err)
		switch {
		case errors.Is(err, actor.ErrDeadLetter):
			code = netio.WSAENOTSOCK
		case err != nil:
		default:
			switch x := res.(type) {
			case *actors.ConnectResult:
				code = netio.Code(x.Code)
			case *actor.DeadLetterResponse:
				code = netio.WSAENOTSOCK
			}
		}
		if code != netio.Code(1<<32-1) {
			got = codeName(code)
		}
		r.logf("Connect -> %s", got)
		var want netio.Code
		switch {
		case m.released:
			want = netio.WSAENOTSOCK
		case m.closed:
			want = netio.WSAEINVAL // §3.8, decision 5
		default:
			want = netio.WSAEISCONN // §3.8, decision 5 (also after RecvDisconnect)
		}
		if code != want {
			return r.div("Connect", codeName(want), got, "")
		}
		return nil
	}
	panic("unknown op")
}

// checkEvents compares what the subscribers got with the model, once the
// socket is released (so no further event can come).
func (r *seqRun) checkEvents() []*divergence {
	sys := r.h.rt.System()
	r.op++
	r.cur = r.m.String()
	var out []*divergence
	if !r.h.rec.barrier(sys) {
		return []*divergence{r.div("events", "recorder barrier", "timeout", "")}
	}
	got := r.h.rec.of(r.id)
	want := r.m.events
	if *modelV {
		fmt.Printf("seed %d: %s\n  events want %s\n  events got  %s\n", r.seed, strings.Join(r.hist, " | "), evList(want), evList(got))
	}
	detail := fmt.Sprintf("want %s got %s", evList(want), evList(got))
	if len(got) == 0 || !got[0].same(want[0]) {
		out = append(out, r.div("events: first", want[0].String(), firstOr(got, 0), detail))
		return out
	}
	restGot, restWant := got[1:], want[2:]
	if len(restGot) > 0 && restGot[0].kind == events.FDWrite {
		restGot = restGot[1:]
	} else {
		out = append(out, r.div("events: FD_WRITE after FD_ACCEPT", "FD_WRITE", firstOr(restGot, 0), detail))
	}
	if d := r.cmpEvents("events", restWant, restGot, detail); d != nil {
		out = append(out, d)
	}
	if d := r.checkClose("events", got); d != nil {
		out = append(out, d)
	}
	for i, s := range r.m.subs {
		if !s.rec.barrier(sys) {
			out = append(out, r.div("subscriber events", "barrier", "timeout", ""))
			continue
		}
		sg := s.rec.of(r.id)
		name := fmt.Sprintf("subscriber events (subscribed as #%d)", i+1)
		sd := fmt.Sprintf("want %s got %s", evList(s.want), evList(sg))
		if d := r.cmpEvents("subscriber events", s.want, sg, name+": "+sd); d != nil {
			out = append(out, d)
		}
		if d := r.checkClose("subscriber events", sg); d != nil {
			out = append(out, d)
		}
	}
	if !r.m.pull {
		if g := r.h.log.got(r.id); !bytes.Equal(g, r.m.delivered) {
			out = append(out, r.div("handler bytes", fmt.Sprintf("%d bytes", len(r.m.delivered)), fmt.Sprintf("%d bytes", len(g)), ""))
		}
	}
	return out
}

func firstOr(l []ev, i int) string {
	if i < len(l) {
		return l[i].String()
	}
	return "none"
}

func (r *seqRun) cmpEvents(name string, want, got []ev, detail string) *divergence {
	for i := 0; i < max(len(want), len(got)); i++ {
		if i < len(want) && i < len(got) && want[i].same(got[i]) {
			continue
		}
		return r.div(name, "…"+firstOr(want, i), firstOr(got, i), fmt.Sprintf("at #%d: %s", i, detail))
	}
	return nil
}

// checkClose: FD_CLOSE exactly once and last (§4).
func (r *seqRun) checkClose(name string, got []ev) *divergence {
	n := 0
	for _, e := range got {
		if e.kind == events.FDClose {
			n++
		}
	}
	if n != 1 || got[len(got)-1].kind != events.FDClose {
		return r.div(name+": FD_CLOSE once and last", "1, last", fmt.Sprintf("%d, last %s", n, firstOr(got, len(got)-1)), evList(got))
	}
	return nil
}

func TestModel(t *testing.T) {
	base := *modelSeed
	if base == 0 {
		base = time.Now().UnixNano() % 1_000_000_000
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		start := time.Now()
		h := startModelHarness(t, mode)
		par := max(1, *modelPar)
		seeds := make(chan int64)
		var mu sync.Mutex
		var divs []*divergence
		bad := 0
		var wg sync.WaitGroup
		for w := 0; w < par; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seed := range seeds {
					d := h.runSeq(seed)
					mu.Lock()
					divs = append(divs, d...)
					if len(d) > 0 {
						bad++
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < *modelSeqs; i++ {
			seeds <- base + int64(i)
		}
		close(seeds)
		wg.Wait()
		t.Logf("%s: %d sequences (seeds %d..%d), %d operations, %d sequences diverged, in %v",
			mode, *modelSeqs, base, base+int64(*modelSeqs)-1, h.ops.Load(), bad, time.Since(start).Round(time.Millisecond))
		h.obsMu.Lock()
		obs := make([]string, 0, len(h.obs))
		for k, n := range h.obs {
			obs = append(obs, fmt.Sprintf("%s [%dx]", k, n))
		}
		cov := make([]string, 0, len(h.cov))
		for k, n := range h.cov {
			cov = append(cov, fmt.Sprintf("%s: %d", k, n))
		}
		h.obsMu.Unlock()
		sort.Strings(obs)
		sort.Strings(cov)
		t.Logf("%s: coverage: %s", mode, strings.Join(cov, ", "))
		if len(obs) > 0 {
			t.Logf("%s: answers where the contract leaves a choice (all accepted):\n  %s", mode, strings.Join(obs, "\n  "))
		}
		if len(divs) == 0 {
			return
		}
		reportDivergences(t, mode, divs)
	})
}

// reportDivergences groups divergences by kind and shows one example of each
// with its seed, operation index and history.
func reportDivergences(t *testing.T, mode actors.Dispatch, divs []*divergence) {
	t.Helper()
	groups := map[string][]*divergence{}
	for _, d := range divs {
		groups[d.sig()] = append(groups[d.sig()], d)
	}
	sigs := make([]string, 0, len(groups))
	for s := range groups {
		sigs = append(sigs, s)
	}
	sort.Slice(sigs, func(i, j int) bool {
		if len(groups[sigs[i]]) != len(groups[sigs[j]]) {
			return len(groups[sigs[i]]) > len(groups[sigs[j]])
		}
		return sigs[i] < sigs[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d divergences of %d kinds from the model (%s):\n", len(divs), len(sigs), mode)
	for _, s := range sigs {
		g := groups[s]
		sort.Slice(g, func(i, j int) bool { return g[i].seed < g[j].seed })
		d := g[0]
		fmt.Fprintf(&b, "- [%dx] %s\n    e.g. seed %d op %d, model state before: %s", len(g), s, d.seed, d.op, d.state)
		if d.detail != "" {
			fmt.Fprintf(&b, "; %s", d.detail)
		}
		fmt.Fprintf(&b, "\n    history: %s\n", strings.Join(d.hist, " | "))
		fmt.Fprintf(&b, "    reproduce: go test -race -run 'TestModel/%s$' ./runtime/ -model.seed=%d -model.seqs=1 -model.ops=%d\n", mode, d.seed, *modelOps)
	}
	t.Error(b.String())
}
