package runtime_test

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// banStressN is the number of RecvDisconnect calls TestBanStress makes per
// dispatch mode and ban policy (rounded up to whole batches).
var banStressN = flag.Int("banstress.n", 1000, "TestBanStress: RecvDisconnect calls per dispatch mode and ban policy")

const (
	banBatch     = 50 // connections opened, banned concurrently and closed per round
	banPullEvery = 5  // every 5th connection of a batch goes to the pull listener
)

// banSock is the test's view of one accepted socket.
type banSock struct {
	id     uint64
	pid    *actor.PID
	banned atomic.Bool  // set by the test right after RecvDisconnect's success reply arrived
	seen   atomic.Int64 // bytes handed to the handler (push) or FD_READs (pull) before the ban
}

// banStress is the handler of both listeners plus the violation counters.
//
// The check cannot miss a late delivery: the handler reads the socket's
// banned flag both when a Received reaches it and again when it is about to
// return (after yielding the processor). The contract says no Received
// reaches a handler once the RecvDisconnect reply has left, and the
// decisions say a Received being handled when the ban arrives delays the
// reply until that call returns. So a flag set after the reply arrived can
// never be seen by any handler call for that socket, at entry or at exit;
// each time it is, that is a violation.
type banStress struct {
	byRemote sync.Map // "listener address|peer address" -> *banSock

	received      atomic.Int64 // Received messages handled, all sockets
	violations    atomic.Int64 // Received handled (entry or exit) after the ban reply
	violBytes     atomic.Int64
	noState       atomic.Int64 // Received before FD_ACCEPT (should never happen)
	pullAfterBan  atomic.Int64 // Recv issued after the ban reply that returned data or no WSAESHUTDOWN
	recvAfterBan  atomic.Int64 // the test's own Recv after the ban reply that was not WSAESHUTDOWN
	banFailures   atomic.Int64 // RecvDisconnect replies that were not success
	closeFailures atomic.Int64
	bans          atomic.Int64

	mu       sync.Mutex
	examples []string // the first few violations, for the log
}

func (b *banStress) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.examples) < 10 {
		b.examples = append(b.examples, fmt.Sprintf(format, args...))
	}
}

func (b *banStress) Receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *events.Event:
		switch m.EventKind() {
		case events.FDAccept:
			bs := &banSock{id: c.ID(), pid: c.Self()}
			c.SetState(bs)
			// Keyed by both ends: one ephemeral port can serve peers of
			// both listeners at once.
			b.byRemote.Store(c.LocalAddr()+"|"+c.RemoteAddr(), bs)
		case events.FDRead:
			if bs, _ := c.State().(*banSock); bs != nil {
				bs.seen.Add(1)
			}
		}
	case *actors.Received:
		b.received.Add(1)
		bs, _ := c.State().(*banSock)
		if bs == nil {
			b.noState.Add(1)
			return
		}
		if bs.banned.Load() {
			b.violations.Add(1)
			b.violBytes.Add(int64(len(m.Data)))
			b.note("socket %d: Received of %d bytes handed to the handler after the RecvDisconnect reply", bs.id, len(m.Data))
			return
		}
		bs.seen.Add(int64(len(m.Data)))
		// Widen the window in which a concurrent ban could be answered while
		// this call runs (yielding, never blocking: Inline runs on the loop).
		goruntime.Gosched()
		if bs.banned.Load() {
			b.violations.Add(1)
			b.violBytes.Add(int64(len(m.Data)))
			b.note("socket %d: RecvDisconnect reply arrived while a Received of %d bytes was still being handled", bs.id, len(m.Data))
		}
	}
}

// closeCounter counts FD_CLOSE per socket and by reason.
type closeCounter struct {
	mu       sync.Mutex
	perID    map[uint64]int
	byReason map[string]int
	dups     int
}

func newCloseCounter(sys *actor.ActorSystem) (*closeCounter, *actor.PID) {
	cc := &closeCounter{perID: map[uint64]int{}, byReason: map[string]int{}}
	pid := sys.Root.Spawn(actorFunc(func(ev *events.Event) {
		if ev.EventKind() != events.FDClose {
			return
		}
		cc.mu.Lock()
		defer cc.mu.Unlock()
		cc.perID[ev.SocketId]++
		if cc.perID[ev.SocketId] > 1 {
			cc.dups++
		}
		cc.byReason[ev.Reason]++
	}))
	return cc, pid
}

func TestBanStress(t *testing.T) {
	if *banStressN <= 0 {
		t.Skip("-banstress.n=0")
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
			t.Run(policy.String(), func(t *testing.T) { runBanStress(t, socktest.TCP, mode, policy, *banStressN, 0) })
		}
	})
}

// runBanStress makes n RecvDisconnect calls (rounded up to whole batches)
// on sockets of transport tr whose peers stream, and checks that none lets
// a byte through after its reply. A budget that is not 0 ends the rounds
// once it is spent (after at least 2 batches); the bans of the batches run
// are then required.
func runBanStress(t *testing.T, tr socktest.Transport, mode actors.Dispatch, policy actors.BanPolicy, n int, budget time.Duration) {
	batches := (n + banBatch - 1) / banBatch
	start := time.Now()
	h := &banStress{}
	rt, pushAddr, pullAddr := startBanStressRuntime(t, tr, mode, policy, h)
	cc, ccPID := newCloseCounter(rt.System())
	if err := rt.Subscribe(ccPID, events.MaskOf(events.FDClose)); err != nil {
		t.Fatal(err)
	}
	b := 0
	for ; b < batches && !t.Failed(); b++ {
		if budget > 0 && b >= 2 && time.Since(start) > budget {
			break
		}
		banStressRound(t, tr, rt, h, pushAddr, pullAddr, b)
	}
	// Every socket was closed: each subscriber gets its one FD_CLOSE.
	socktest.WaitFor(t, "one FD_CLOSE per banned socket", func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return len(cc.perID) >= b*banBatch
	})
	want := int64(n)
	if b < batches {
		want = int64(b * banBatch)
		t.Logf("time budget %v spent after %d of %d batches", budget, b, batches)
	}
	cc.mu.Lock()
	dups, reasons := cc.dups, fmt.Sprint(cc.byReason)
	cc.mu.Unlock()
	t.Logf("%s/%s/%s: %d bans in %d batches of %d (%d pull) in %v; %d Received handled; violations: %d Received (%d bytes) after the ban reply, %d pull Recv, %d Recv not WSAESHUTDOWN; %d RecvDisconnect failures, %d Close failures; FD_CLOSE by reason %s, %d duplicates",
		tr, mode, policy, h.bans.Load(), b, banBatch, banBatch/banPullEvery, time.Since(start).Round(time.Millisecond),
		h.received.Load(), h.violations.Load(), h.violBytes.Load(), h.pullAfterBan.Load(), h.recvAfterBan.Load(),
		h.banFailures.Load(), h.closeFailures.Load(), reasons, dups)
	for _, ex := range h.examples {
		t.Log("  ", ex)
	}
	if h.bans.Load() < want {
		t.Errorf("only %d bans, want at least %d", h.bans.Load(), want)
	}
	if h.violations.Load() != 0 || h.pullAfterBan.Load() != 0 || h.recvAfterBan.Load() != 0 {
		t.Errorf("receive-ban violations: %d Received after the reply, %d pull Recv after the reply, %d Recv not WSAESHUTDOWN",
			h.violations.Load(), h.pullAfterBan.Load(), h.recvAfterBan.Load())
	}
	if h.noState.Load() != 0 {
		t.Errorf("%d Received reached a handler before its FD_ACCEPT", h.noState.Load())
	}
	if h.banFailures.Load() != 0 || h.closeFailures.Load() != 0 {
		t.Errorf("%d RecvDisconnect and %d Close calls failed", h.banFailures.Load(), h.closeFailures.Load())
	}
	if dups != 0 {
		t.Errorf("%d duplicate FD_CLOSE", dups)
	}
}

// startBanStressRuntime starts a runtime with a push and a pull listener
// sharing handler h over transport tr (TCP or TLS), shut down (with a
// descriptor check) at cleanup.
func startBanStressRuntime(t *testing.T, tr socktest.Transport, mode actors.Dispatch, policy actors.BanPolicy, h actors.Handler) (rt *sockrt.Runtime, pushAddr, pullAddr string) {
	t.Helper()
	fds := fdCount(t)
	// The linger outlasts a round, so a socket reset by the ban still
	// answers (WSAESHUTDOWN) until the round closes it.
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: 30 * time.Second, BanPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	// Pooled pushes under the discard policy recycle their reads, so the
	// ban's purge is stressed on both kinds of queued bytes: owned copies
	// (reset) and recycled buffers (discard).
	push, err := rt.Listen(tr.Listen(t), h, onTransport(tr, actors.ListenOptions{Dispatch: mode, RecycleReads: policy == actors.BanDiscard}))
	if err != nil {
		t.Fatal(err)
	}
	pull, err := rt.Listen(tr.Listen(t), h, onTransport(tr, actors.ListenOptions{Dispatch: mode, Pull: true}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 5*time.Second)
	return rt, push.Addr().String(), pull.Addr().String()
}

// banTLSClient is the TLS peers' config: TLSClientConfig with a session
// cache, so that most handshakes are resumptions.
var banTLSClient = func() *tls.Config {
	c := socktest.TLSClientConfig()
	c.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	return c
}()

type banPeer struct {
	c    net.Conn     // the TCP connection, or a *tls.Conn over raw
	raw  *net.TCPConn // the TCP connection
	pull bool
	bs   *banSock
}

// banStressRound opens banBatch connections whose peers stream, waits until
// bytes flow on each, bans them all concurrently from plain goroutines
// while the bytes keep flowing, checks, and closes everything. Over TLS
// (tr) the peers are Go's TLS client; their writes have no deadline (one
// that expires cuts a record), and the peers' TCP connections are closed
// at the end (the server's sockets are closed by then).
func banStressRound(t *testing.T, tr socktest.Transport, rt *sockrt.Runtime, h *banStress, pushAddr, pullAddr string, round int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	peers := make([]*banPeer, banBatch)
	defer func() {
		close(stop)
		for _, p := range peers {
			if p != nil {
				p.raw.Close()
			}
		}
		wg.Wait()
	}()
	overTLS := tr.Name == socktest.TLS.Name
	var tlsConns []*tls.Conn
	if overTLS {
		// The handshakes first, all at once and resumed where they can be
		// (under -race a full one costs tens of milliseconds), then the
		// streams: the round is about the ban, not the handshake.
		tlsConns = make([]*tls.Conn, len(peers))
		errs := make([]error, len(peers))
		var dials sync.WaitGroup
		for i := range peers {
			addr := pushAddr
			if i%banPullEvery == banPullEvery-1 {
				addr = pullAddr
			}
			dials.Add(1)
			go func() {
				defer dials.Done()
				tlsConns[i], errs[i] = socktest.DialTLSConfig(addr, banTLSClient)
			}()
		}
		dials.Wait()
		for i, err := range errs {
			if err != nil {
				for _, c := range tlsConns {
					if c != nil {
						c.NetConn().Close()
					}
				}
				t.Fatalf("TLS dial %d: %v", i, err)
			}
		}
	}
	for i := range peers {
		p := &banPeer{pull: i%banPullEvery == banPullEvery-1}
		addr := pushAddr
		if p.pull {
			addr = pullAddr
		}
		if overTLS {
			p.c, p.raw = tlsConns[i], socktest.TLSNetConn(tlsConns[i])
		} else {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p.c, p.raw = c, c.(*net.TCPConn)
		}
		peers[i] = p
		wg.Add(1)
		go func() {
			// Stream until told to stop or the connection dies; bounded in
			// time by the round's context. Paced (256 bytes about every
			// 100 µs) so that 50 streams do not starve the loops under
			// -race; the flow never pauses for long. This pacing is load
			// shaping, not synchronisation.
			// Over TLS every write is a record decrypted on its own (TCP's
			// small writes coalesce in the kernel), so the pace is slower:
			// 1 KiB about every millisecond per peer.
			defer wg.Done()
			chunk, pace := make([]byte, 256), 100*time.Microsecond
			if overTLS {
				chunk, pace = make([]byte, 1024), time.Millisecond
			}
			for i := 0; ; i++ {
				if i > 0 {
					time.Sleep(pace)
				}
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if !overTLS {
					_ = p.c.SetWriteDeadline(time.Now().Add(time.Second))
				}
				if _, err := p.c.Write(chunk); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					return
				}
			}
		}()
	}
	for _, p := range peers {
		key := p.c.RemoteAddr().String() + "|" + p.c.LocalAddr().String()
		socktest.WaitFor(t, fmt.Sprintf("round %d: FD_ACCEPT at the handler for peer %s", round, key), func() bool {
			v, ok := h.byRemote.Load(key)
			if ok {
				p.bs = v.(*banSock)
				h.byRemote.Delete(key)
			}
			return ok
		})
	}
	for _, p := range peers {
		socktest.WaitFor(t, "bytes flowing", func() bool { return p.bs.seen.Load() > 0 })
	}
	// Pull sockets: pullers drain concurrently with the ban; a Recv issued
	// after the ban reply arrived must answer WSAESHUTDOWN with no data.
	var pulls sync.WaitGroup // the pullers end after their first Recv after the ban
	for _, p := range peers {
		if !p.pull {
			continue
		}
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			for ctx.Err() == nil {
				select {
				case <-stop:
					return
				default:
				}
				after := p.bs.banned.Load()
				data, err := rt.Recv(ctx, p.bs.pid, 4096)
				if after {
					if len(data) > 0 || !errors.Is(err, winsock.ErrShutdown) {
						h.pullAfterBan.Add(1)
						h.note("socket %d: Recv issued after the ban reply = %d bytes, %v; want WSAESHUTDOWN", p.bs.id, len(data), err)
					}
					return
				}
				if errors.Is(err, winsock.ErrWouldBlock) {
					goruntime.Gosched()
				}
			}
		}()
	}
	// Ban them all at once, from goroutines that are not actors.
	var bans sync.WaitGroup
	release := make(chan struct{})
	for _, p := range peers {
		bans.Add(1)
		go func() {
			defer bans.Done()
			<-release
			data, err := rt.RecvDisconnect(ctx, p.bs.pid)
			if err != nil || len(data) != 0 {
				h.banFailures.Add(1)
				h.note("socket %d: RecvDisconnect = %q, %v", p.bs.id, data, err)
				return
			}
			p.bs.banned.Store(true)
			h.bans.Add(1)
			if data, err := rt.Recv(ctx, p.bs.pid, 4096); len(data) > 0 || !errors.Is(err, winsock.ErrShutdown) {
				h.recvAfterBan.Add(1)
				h.note("socket %d: Recv after the ban reply = %d bytes, %v; want WSAESHUTDOWN", p.bs.id, len(data), err)
			}
		}()
	}
	close(release)
	bans.Wait()
	// The streams went on past the ban: prove it per socket (the bytes were
	// banned, or the ban reset the connection), so late deliveries had
	// their chance to show.
	for _, p := range peers {
		if !p.bs.banned.Load() {
			continue
		}
		socktest.WaitFor(t, "bytes after the ban to be banned or to reset the connection", func() bool {
			info, err := rt.Info(ctx, p.bs.pid)
			return err == nil && (info.BannedBytes > 0 || info.State == "closed")
		})
	}
	// A puller may still be on its way to that Recv: closing first would
	// make it answer WSAENOTSOCK (a released socket), not the ban's code.
	pulls.Wait()
	var closes sync.WaitGroup
	for _, p := range peers {
		closes.Add(1)
		go func() {
			defer closes.Done()
			if err := rt.Close(ctx, p.bs.pid); err != nil {
				h.closeFailures.Add(1)
				h.note("socket %d: Close = %v", p.bs.id, err)
			}
		}()
	}
	closes.Wait()
}
