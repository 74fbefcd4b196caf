package actors_test

import (
	"errors"
	"io"
	"os"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// blockingHandler blocks on "block" until release is closed (telling
// entered first) and answers "ping" with "pong".
func blockingHandler(entered chan<- struct{}, release <-chan struct{}) actors.Handler {
	return actors.HandlerFunc(func(c *actors.Context) {
		m, ok := c.Message().(*actors.Received)
		if !ok {
			return
		}
		switch string(m.Data) {
		case "block":
			entered <- struct{}{}
			<-release
			_, _ = c.WriteString("released")
		case "ping":
			_, _ = c.WriteString("pong")
		}
	})
}

// TestPoolHandlersMayBlock: with more pooled handlers blocked at once than
// the pool keeps running (one per CPU), another socket's handler still
// runs (the pool's watchdog starts a worker for it).
func TestPoolHandlersMayBlock(t *testing.T) {
	blocked := goruntime.NumCPU() + 2
	entered, release := make(chan struct{}, blocked), make(chan struct{})
	srv := startRuntime(t, sockrt.Options{}, listenSpec{h: blockingHandler(entered, release), opts: actors.ListenOptions{Dispatch: actors.Pooled}})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	for range blocked {
		c, _ := srv.dial(t, 0)
		if _, err := c.Write([]byte("block")); err != nil {
			t.Fatal(err)
		}
		<-entered // each in its handler before the next: all blocked at once
	}
	c, _ := srv.dial(t, 0)
	if got := roundTrip(t, c, "ping"); got != "pong" {
		t.Fatalf("ping while %d handlers block: %q", blocked, got)
	}
	close(release)
}

// TestPoolSizeBounds: under Options.PoolSize 1 one blocked handler holds
// the other sockets' messages until it returns; they are then handled.
func TestPoolSizeBounds(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := startRuntime(t, sockrt.Options{PoolSize: 1}, listenSpec{h: blockingHandler(entered, release), opts: actors.ListenOptions{Dispatch: actors.Pooled}})
	a, _ := srv.dial(t, 0)
	b, _ := srv.dial(t, 0)
	if _, err := a.Write([]byte("block")); err != nil {
		t.Fatal(err)
	}
	<-entered
	if _, err := b.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	// The one worker is blocked: no answer can come (a wait that can only
	// pass wrongly, never fail wrongly).
	_ = b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := b.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("answered while the only worker blocks: %d, %v", n, err)
	}
	close(release)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("after the release: %q, %v", buf, err)
	}
	buf = make([]byte, len("released"))
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "released" {
		t.Fatalf("the blocked one: %q, %v", buf, err)
	}
}
