package runtime_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

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
	opSuspend
	opResume
	opFlood
	opPeerTruncate // TLS only: the peer's FIN without close_notify
)

var opNames = [...]string{
	opPeerWrite: "PeerWrite", opPeerFin: "PeerFIN", opPeerRst: "PeerRST", opSend: "Send", opRecv: "Recv",
	opRecvDisconnect: "RecvDisconnect", opSendDisconnect: "SendDisconnect", opClose: "Close", opAbort: "Abort",
	opSubscribe: "Subscribe", opInfo: "Info", opConnect: "Connect",
	opSuspend: "SuspendReading", opResume: "ResumeReading", opFlood: "PeerFlood", opPeerTruncate: "PeerTruncate",
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
	tls   bool              // the listeners are tls://, the peer Go's TLS client
	test  string            // the test's name, for the reproduce line
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

func startModelHarness(t *testing.T, mode actors.Dispatch, overTLS bool) *modelHarness {
	t.Helper()
	fds := fdCount(t)
	// A minute of linger: no sequence sees a self-release it did not ask for.
	// A small MaxInbound: a flood (opFlood) pauses the reads of a socket
	// whose application takes its bytes slower than the peer sends them;
	// the other operations send far less than it.
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: time.Minute, MaxInbound: modelMaxInbound})
	if err != nil {
		t.Fatal(err)
	}
	h := &modelHarness{rt: rt, mode: mode, tls: overTLS, test: t.Name(), addrs: map[string]string{}, log: &pushLog{}, obs: map[string]int{}, cov: map[string]int{}}
	lns := map[string]*sockrt.Listener{}
	for _, pull := range []bool{false, true} {
		for _, p := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
			tr := socktest.TCP
			if overTLS {
				tr = socktest.TLS
			}
			ln, err := rt.Listen(tr.Listen(t), h.log, onTransport(tr, actors.ListenOptions{Dispatch: mode, Pull: pull, BanPolicy: p}))
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
	shutdownAtEnd(t, rt, fds, 5*time.Second)
	return h
}

// seqRun is one sequence.
type seqRun struct {
	h    *modelHarness
	seed int64
	rng  *rand.Rand
	m    *modelSock
	ctx  context.Context
	peer net.Conn     // the peer's connection: raw, or a *tls.Conn over it
	raw  *net.TCPConn // the TCP connection (FIN, RST, truncation)
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
	if h.tls {
		c, err := socktest.DialTLSConfig(addr, socktest.TLSClientConfig())
		if err != nil {
			return []*divergence{r.div("setup", "dial", err.Error(), "")}
		}
		r.peer, r.raw = c, socktest.TLSNetConn(c)
	} else {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return []*divergence{r.div("setup", "dial", err.Error(), "")}
		}
		r.peer, r.raw = c, c.(*net.TCPConn)
	}
	r.key = addr + "|" + r.peer.LocalAddr().String()
	defer func() {
		if h.tls && !r.m.released {
			// Before the peer's close: over TLS a FIN without close_notify
			// would be a truncation, which the sequence did not ask for.
			_ = h.rt.Abort(ctx, r.pid)
		}
		// The TCP connection, not the TLS one: no close_notify that could
		// wait behind a flood's writer.
		r.raw.Close()
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
			{opAbort, 1}, {opSubscribe, 1}, {opInfo, 1}, {opConnect, 1}, {opSuspend, 1}, {opResume, 1}}
	} else {
		if m.peerCanWrite() {
			cand = append(cand, wop{opPeerWrite, 8}, wop{opPeerFin, 1}, wop{opPeerRst, 1})
			if r.h.tls { // a FIN without close_notify: 10053 truncated
				cand = append(cand, wop{opPeerTruncate, 1})
			}
		}
		cand = append(cand, wop{opSend, 5}, wop{opRecv, 7}, wop{opRecvDisconnect, 2}, wop{opSendDisconnect, 1},
			wop{opClose, 1}, wop{opAbort, 1}, wop{opInfo, 3}, wop{opConnect, 1}, wop{opSuspend, 2}, wop{opResume, 2})
		if m.peerCanWrite() && !m.banned && !m.appPaused {
			cand = append(cand, wop{opFlood, 1})
		}
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

// peerFin half-closes the peer: FIN over TCP; over TLS close_notify,
// then the TCP connection's FIN.
func (r *seqRun) peerFin() {
	if tc, ok := r.peer.(*tls.Conn); ok {
		_ = tc.SetWriteDeadline(time.Now().Add(modelWait))
		_ = tc.CloseWrite()
	}
	_ = r.raw.CloseWrite()
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
