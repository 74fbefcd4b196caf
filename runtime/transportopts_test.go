package runtime_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Options.ReadBufferCap bounds what one read hands a handler.
func TestReadBufferCap(t *testing.T) {
	var largest, total atomic.Int64
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			n := int64(len(m.Data))
			if n > largest.Load() {
				largest.Store(n)
			}
			total.Add(n)
		}
	})
	fds := fdCount(t)
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, ReadBufferCap: 4096, LoadBalancing: "source-addr-hash"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 0)
	c := socktest.Dial(t, ln.Addr().String())
	payload := bytes.Repeat([]byte("x"), 256<<10)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "every byte", func() bool { return total.Load() == int64(len(payload)) })
	if l := largest.Load(); l > 4096 {
		t.Fatalf("a read of %d bytes with ReadBufferCap 4096", l)
	}
}
