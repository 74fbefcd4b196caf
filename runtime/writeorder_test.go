package runtime_test

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// TestWritesStayWholeAndInOrder: a handler streams messages with
// Context.Write (going on at each FD_WRITE after WSAEWOULDBLOCK) while
// another goroutine Sends its own messages to the same socket, and the
// client reads nothing at first, so the socket's buffers fill. Every message
// reaches the client whole, each writer's in order, and the handler's
// graceful Close after its last one loses nothing. Under Pooled dispatch
// this is the direct write path (netio/direct.go) meeting the loop's writes.
func TestWritesStayWholeAndInOrder(t *testing.T) {
	const size, handlerMsgs, sendMsgs = 3000, 600, 200
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		var (
			mu      sync.Mutex
			next    uint32 // the handler's next message; its goroutine's alone
			blocked int    // WSAEWOULDBLOCK seen by the handler
		)
		h := actors.HandlerFunc(func(c *actors.Context) {
			ev, ok := c.Message().(*events.Event)
			if !ok || (events.Kind(ev.Kind) != events.FDAccept && events.Kind(ev.Kind) != events.FDWrite) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for next < handlerMsgs {
				if _, err := c.Write(socktest.Frame('H', next, size)); err != nil {
					if errors.Is(err, winsock.ErrWouldBlock) {
						blocked++
						return // FD_WRITE will come
					}
					t.Errorf("Write %d: %v", next, err)
					return
				}
				next++
			}
			if next == handlerMsgs {
				next++
				c.Close()
			}
		})
		s := startRTOn(t, tr, sockrt.Options{SendHighWater: 64 << 10, SendLowWater: 16 << 10}, actors.ListenOptions{Dispatch: mode}, h)
		c := s.dial(t)
		id := s.rec.Accepted(t, 1)
		pid := s.rt.SocketPID(id)
		sent := make(chan error, 1)
		go func() { // another actor's Sends, on the same socket
			for i := 0; i < sendMsgs; {
				_, err := s.rt.Send(ctx5(t), pid, socktest.Frame('S', uint32(i), size))
				switch {
				case errors.Is(err, winsock.ErrWouldBlock):
					time.Sleep(time.Millisecond) // the queue is full: its FD_WRITE is the handler's
					continue
				case err != nil:
					sent <- err
					return
				}
				i++
			}
			sent <- nil
		}()
		time.Sleep(50 * time.Millisecond) // fill the buffers first (more WSAEWOULDBLOCK); correctness does not depend on it
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("client read %d bytes: %v", len(got), err)
		}
		if err := <-sent; err != nil {
			// The Close can overtake the last Sends: they then fail, and
			// their messages must be missing whole, not torn.
			t.Logf("Send after the handler's Close: %v", err)
		}
		seen := socktest.CheckFrames(t, got, size)
		if seen['H'] != handlerMsgs {
			t.Fatalf("handler's messages: %d arrived, want %d", seen['H'], handlerMsgs)
		}
		mu.Lock()
		t.Logf("%s: %d handler and %d sent messages; WSAEWOULDBLOCK %d times", mode, seen['H'], seen['S'], blocked)
		mu.Unlock()
	})
}
