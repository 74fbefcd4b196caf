package actors_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// replyLog is a process that keeps the replies sent to it, in order.
type replyLog struct {
	mu  sync.Mutex
	got []any
	n   *atomic.Int64 // replies of every log, counted
}

func (l *replyLog) SendUserMessage(_ *actor.PID, m any) {
	_, msg, _ := actor.UnwrapEnvelope(m)
	l.mu.Lock()
	l.got = append(l.got, msg)
	l.mu.Unlock()
	l.n.Add(1)
}
func (l *replyLog) SendSystemMessage(*actor.PID, any) {}
func (l *replyLog) Stop(*actor.PID)                   {}

// TestFloodedMailboxTakesTurns: one socket's mailbox is flooded with
// 200,000 Info and Send messages from several goroutines while another
// socket on the same (only) event loop does round trips, both over TCP
// (an echo) and through its mailbox (Info). The other socket keeps
// completing round trips while the flood is being answered (the flooded
// drain gives the loop back every drainBudget messages), and every flooded
// message is answered, and every Send written, in the order it was posted.
func TestFloodedMailboxTakesTurns(t *testing.T) {
	s := startRuntime(t, sockrt.Options{EventLoops: 1}, listenSpec{h: echo})
	sys := s.rt.System()
	floodC, floodPID := s.dial(t, 0)
	pingC, pingPID := s.dial(t, 0)

	const (
		posters   = 4
		perPoster = 50_000 // Info and Send alternately
		sends     = posters * perPoster / 2
		total     = posters * perPoster
		bound     = 3 * time.Minute
	)
	var replies atomic.Int64
	logs := make([]*replyLog, posters)
	pids := make([]*actor.PID, posters)
	for i := range logs {
		logs[i] = &replyLog{n: &replies}
		pids[i], _ = sys.ProcessRegistry.Add(logs[i], fmt.Sprintf("flood-replies-%d", i))
		defer sys.ProcessRegistry.Remove(pids[i])
	}

	// The flooded socket's client reads what the Sends write: 8-byte
	// frames, the poster and its sequence number.
	frames := make(chan error, 1)
	go func() {
		next := make([]uint32, posters)
		for p := range next {
			next[p] = 1 // the Sends are the odd messages
		}
		buf := make([]byte, 8)
		_ = floodC.SetReadDeadline(time.Now().Add(bound))
		for i := 0; i < sends; i++ {
			if _, err := io.ReadFull(floodC, buf); err != nil {
				frames <- fmt.Errorf("after %d frames: %w", i, err)
				return
			}
			p, k := binary.BigEndian.Uint32(buf), binary.BigEndian.Uint32(buf[4:])
			if p >= posters || k != next[p] {
				frames <- fmt.Errorf("frame %d: poster %d seq %d, want seq %d", i, p, k, next[p])
				return
			}
			next[p] += 2
		}
		frames <- nil
	}()

	// The other socket's round trips, counted while the flood is answered
	// (some replies in, not all).
	var tcpDuring, infoDuring atomic.Int64
	during := func() bool { n := replies.Load(); return n > 0 && n < total }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // TCP echo
		defer wg.Done()
		buf := make([]byte, 1)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = pingC.SetDeadline(time.Now().Add(bound))
			if _, err := pingC.Write([]byte{'p'}); err != nil {
				t.Error(err)
				return
			}
			if _, err := io.ReadFull(pingC, buf); err != nil {
				t.Error(err)
				return
			}
			if during() {
				tcpDuring.Add(1)
			}
		}
	}()
	go func() { // Info through the mailbox
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := sys.Root.RequestFuture(pingPID, &actors.Info{}, bound).Result()
			if err != nil {
				t.Error(err)
				return
			}
			if _, ok := res.(*actors.SocketInfo); !ok {
				t.Errorf("Info answered %T", res)
				return
			}
			if during() {
				infoDuring.Add(1)
			}
		}
	}()

	proc, ok := sys.ProcessRegistry.Get(floodPID)
	if !ok {
		t.Fatal("flooded socket not registered")
	}
	start := time.Now()
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for k := 0; k < perPoster; k++ {
				var msg any = &actors.Info{}
				if k%2 == 1 {
					data := make([]byte, 8)
					binary.BigEndian.PutUint32(data, uint32(p))
					binary.BigEndian.PutUint32(data[4:], uint32(k))
					msg = &actors.Send{Data: data}
				}
				proc.SendUserMessage(floodPID, &actor.MessageEnvelope{Message: msg, Sender: pids[p]})
			}
		}(p)
	}
	for replies.Load() < total {
		if time.Since(start) > bound {
			close(stop)
			t.Fatalf("%d of %d flooded messages answered in %v", replies.Load(), total, bound)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err := <-frames; err != nil {
		t.Fatal(err)
	}
	for p, l := range logs {
		l.mu.Lock()
		if len(l.got) != perPoster {
			t.Fatalf("poster %d: %d replies, want %d", p, len(l.got), perPoster)
		}
		for k, r := range l.got {
			switch r := r.(type) {
			case *actors.SocketInfo:
				if k%2 != 0 {
					t.Fatalf("poster %d: reply %d is a SocketInfo, want a SendResult", p, k)
				}
			case *actors.SendResult:
				if k%2 != 1 || r.Code != 0 || r.N != 8 {
					t.Fatalf("poster %d: reply %d is %v", p, k, r)
				}
			default:
				t.Fatalf("poster %d: reply %d is %T", p, k, r)
			}
		}
		l.mu.Unlock()
	}
	t.Logf("flood answered in %v; meanwhile %d TCP and %d Info round trips of the other socket", took, tcpDuring.Load(), infoDuring.Load())
	if tcpDuring.Load() == 0 || infoDuring.Load() == 0 {
		t.Fatalf("the other socket's round trips stalled during the flood: %d TCP, %d Info", tcpDuring.Load(), infoDuring.Load())
	}
}
