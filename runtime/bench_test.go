package runtime_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// rawEcho is the baseline: a raw gnet v2 echo server.
type rawEcho struct {
	gnet.BuiltinEventEngine
	addr chan string
}

func (e *rawEcho) OnBoot(eng gnet.Engine) gnet.Action { return gnet.None }
func (e *rawEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
}

// silentLog keeps gnet's start-up line out of the benchmark output.
type silentLog struct{}

func (silentLog) Debugf(string, ...any) {}
func (silentLog) Infof(string, ...any)  {}
func (silentLog) Warnf(string, ...any)  {}
func (silentLog) Errorf(string, ...any) {}
func (silentLog) Fatalf(string, ...any) {}

// pingPong measures one 64-byte echo round trip per op on one loopback
// connection. allocs/op is the whole process, client included (the client's
// net.Conn Read/Write allocate nothing), so it is the server path's count.
func pingPong(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEcho(b *testing.B) {
	b.Run("raw-gnet", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		done := make(chan error, 1)
		go func() {
			done <- gnet.Run(&rawEcho{}, "tcp://"+addr, gnet.WithMulticore(true), gnet.WithLogger(silentLog{}))
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("raw gnet did not start")
			}
			time.Sleep(5 * time.Millisecond)
		}
		pingPong(b, addr)
		b.StopTimer()
		_ = gnet.Stop(context.Background(), "tcp://"+addr)
		<-done
	})
	for _, lopts := range []actors.ListenOptions{{Dispatch: actors.Inline}, {Dispatch: actors.Pooled}, {Dispatch: actors.Pooled, RecycleReads: true}} {
		name := "sockactor-" + lopts.Dispatch.String()
		if lopts.RecycleReads {
			name += "-recycle"
		}
		b.Run(name, func(b *testing.B) {
			rt, _ := sockrt.New(sockrt.Options{})
			ln, err := rt.Listen("tcp://127.0.0.1:0", echo, lopts)
			if err != nil {
				b.Fatal(err)
			}
			if err := rt.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			pingPong(b, ln.Addr().String())
		})
	}
}

// BenchmarkRecvDisconnectRoundTrip measures a RecvDisconnect request through
// the socket's mailbox on its event loop and back (the ban is idempotent, so
// every op after the first is a full round trip that changes nothing).
func BenchmarkRecvDisconnectRoundTrip(b *testing.B) {
	rt, _ := sockrt.New(sockrt.Options{BanPolicy: actors.BanDiscard})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err := rt.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	accepted := make(chan uint64, 1)
	sub := rt.System().Root.Spawn(actorFunc(func(ev *events.Event) {
		if ev.EventKind() == events.FDAccept {
			accepted <- ev.SocketId
		}
	}))
	_ = rt.Subscribe(sub, events.MaskOf(events.FDAccept))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pid := rt.SocketPID(<-accepted)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rt.RecvDisconnect(ctx, pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChurn measures one connection's life per op: dial, the server's
// FD_ACCEPT and FD_WRITE to its handler, the client's close, FD_CLOSE to
// the handler and to a subscriber. It waits for every FD_CLOSE at the end,
// so the server's whole cost is inside the timing (profile it with
// -cpuprofile to see where a connection's cost goes).
func BenchmarkChurn(b *testing.B) {
	for _, mode := range modes {
		b.Run("sockactor-"+mode.String(), func(b *testing.B) {
			rt, _ := sockrt.New(sockrt.Options{Linger: time.Millisecond})
			ln, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{Dispatch: mode})
			if err != nil {
				b.Fatal(err)
			}
			closes := make(chan struct{}, 1024)
			sub := rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				if _, ok := c.Message().(*events.Event); ok {
					closes <- struct{}{}
				}
			}))
			if err := rt.Subscribe(sub, events.MaskOf(events.FDClose)); err != nil {
				b.Fatal(err)
			}
			if err := rt.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer rt.Shutdown(context.Background())
			addr := ln.Addr().String()
			b.ReportAllocs()
			b.ResetTimer()
			got := 0
			for i := 0; i < b.N; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
				for drained := false; !drained; {
					select {
					case <-closes:
						got++
					default:
						drained = true
					}
				}
			}
			for got < b.N {
				select {
				case <-closes:
					got++
				case <-time.After(10 * time.Second):
					b.Fatalf("%d FD_CLOSE of %d", got, b.N)
				}
			}
		})
	}
}
