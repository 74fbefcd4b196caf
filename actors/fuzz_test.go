package actors_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// fuzzReq is one request type the fuzzer decodes its input into. Close and
// Abort are left out: they end the socket by design.
type fuzzReq struct {
	new func() proto.Message
	// isReply reports whether m is the reply type of this request.
	isReply func(m any) bool
	// keepsOpen reports whether the request leaves a socket able to echo
	// (SendDisconnect half-closes it; a valid RecvDisconnect bans
	// reception, so the next probe byte would reset it).
	keepsOpen func(m proto.Message) bool
}

func always(proto.Message) bool { return true }

var fuzzReqs = []fuzzReq{
	{
		new:       func() proto.Message { return &actors.Send{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SendResult); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.Recv{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.RecvResult); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.RecvDisconnect{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.RecvDisconnectResult); return ok },
		keepsOpen: func(m proto.Message) bool { return m.(*actors.RecvDisconnect).BufferLen < 0 },
	},
	{
		new:       func() proto.Message { return &actors.SendDisconnect{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SendDisconnectResult); return ok },
		keepsOpen: func(proto.Message) bool { return false },
	},
	{
		new:       func() proto.Message { return &actors.Subscribe{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SubscribeResult); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.Unsubscribe{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SubscribeResult); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.Info{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SocketInfo); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.Connect{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.ConnectResult); return ok },
		keepsOpen: always,
	},
	{
		// A socket left paused still answers every request; probe resumes
		// it before sending its token.
		new:       func() proto.Message { return &actors.SuspendReading{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.SuspendReadingResult); return ok },
		keepsOpen: always,
	},
	{
		new:       func() proto.Message { return &actors.ResumeReading{} },
		isReply:   func(m any) bool { _, ok := m.(*actors.ResumeReadingResult); return ok },
		keepsOpen: always,
	},
}

// drain reads a client connection in the background, keeping what it read
// so a probe can look for its token.
type drain struct {
	mu   sync.Mutex
	buf  []byte
	done chan struct{}
}

func startDrain(tb testing.TB, c net.Conn) *drain {
	d := &drain{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		p := make([]byte, 64<<10)
		for {
			n, err := c.Read(p)
			d.mu.Lock()
			d.buf = append(d.buf, p[:n]...)
			if len(d.buf) > 8<<20 { // fuzzed Sends: keep the tail only
				d.buf = append(d.buf[:0], d.buf[len(d.buf)-256:]...)
			}
			d.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		c.Close()
		<-d.done
	})
	return d
}

func (d *drain) reset() {
	d.mu.Lock()
	d.buf = d.buf[:0]
	d.mu.Unlock()
}

func (d *drain) has(token []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Contains(d.buf, token)
}

// fuzzTarget is one live socket the fuzzer sends requests to.
type fuzzTarget struct {
	name   string
	pid    *actor.PID
	shut   bool // receive-banned and send-shut at setup: takes every request
	client net.Conn
	drain  *drain
	pull   bool
}

type fuzzFixture struct {
	s       *testRT
	caller  actors.Caller
	targets []*fuzzTarget
}

func newFuzzFixture(tb testing.TB) *fuzzFixture {
	s := startRuntime(tb, sockrt.Options{Linger: time.Minute, Logger: quiet},
		listenSpec{h: echo},
		listenSpec{h: echo, opts: actors.ListenOptions{Dispatch: actors.Pooled}},
		listenSpec{h: echo, opts: actors.ListenOptions{Pull: true}},
	)
	fx := &fuzzFixture{s: s, caller: actors.Caller{System: s.rt.System()}}
	add := func(name string, ln int, shut, pull bool) *fuzzTarget {
		c, pid := s.dial(tb, ln)
		t := &fuzzTarget{name: name, pid: pid, shut: shut, pull: pull, client: c, drain: startDrain(tb, c)}
		fx.targets = append(fx.targets, t)
		return t
	}
	add("inline", 0, false, false)
	add("pooled", 1, false, false)
	add("pull", 2, false, true)
	shut := add("shut", 0, true, false)
	ctx := ctx5(tb)
	if _, err := fx.caller.RecvDisconnect(ctx, shut.pid); err != nil {
		tb.Fatalf("RecvDisconnect: %v", err)
	}
	if err := fx.caller.SendDisconnect(ctx, shut.pid); err != nil {
		tb.Fatalf("SendDisconnect: %v", err)
	}
	if err := fx.probe(); err != nil {
		tb.Fatal(err)
	}
	return fx
}

// probe checks that every target is still a working socket: the echo ones
// echo a fresh token, the pull one hands it to Recv, the shut one answers
// Info as open and shut both ways. A fuzzed SuspendReading may have left a
// target paused: it is resumed first (and must say so in Info).
func (fx *fuzzFixture) probe() error {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	token := []byte("probe-" + hex.EncodeToString(raw) + ";")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, t := range fx.targets {
		if !t.shut {
			if err := fx.caller.ResumeReading(ctx, t.pid); err != nil {
				return fmt.Errorf("%s: ResumeReading: %v", t.name, err)
			}
			info, err := fx.caller.Info(ctx, t.pid)
			if err != nil || info.ReadPaused || info.ReadPausedBy != "" || info.ReadPausedSinceUnixNano != 0 {
				return fmt.Errorf("%s: Info after ResumeReading = %v, %v; want reading", t.name, info, err)
			}
		}
		switch {
		case t.shut:
			info, err := fx.caller.Info(ctx, t.pid)
			if err != nil || info.State != "open" || !info.RecvShut || !info.SendShut {
				return fmt.Errorf("%s: Info = %v, %v; want open and shut both ways", t.name, info, err)
			}
		case t.pull:
			if _, err := t.client.Write(token); err != nil {
				return fmt.Errorf("%s: client write: %v", t.name, err)
			}
			var got []byte
			deadline := time.Now().Add(10 * time.Second)
			for !bytes.Contains(got, token) {
				data, err := fx.caller.Recv(ctx, t.pid, 1<<20)
				switch {
				case errors.Is(err, winsock.ErrWouldBlock):
					if time.Now().After(deadline) {
						return fmt.Errorf("%s: the probe never reached Recv (got %q)", t.name, got)
					}
					time.Sleep(time.Millisecond)
				case err != nil:
					return fmt.Errorf("%s: Recv: %v", t.name, err)
				}
				got = append(got, data...)
			}
			// Leave bytes buffered, so fuzzed Recvs find data to pull.
			if _, err := t.client.Write([]byte("buffered")); err != nil {
				return fmt.Errorf("%s: client write: %v", t.name, err)
			}
		default:
			t.drain.reset()
			if _, err := t.client.Write(token); err != nil {
				return fmt.Errorf("%s: client write: %v", t.name, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !t.drain.has(token) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: the probe was not echoed", t.name)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	return nil
}

func FuzzSocketMessages(f *testing.F) {
	mib := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	seeds := []proto.Message{
		&actors.Recv{Max: -1},
		&actors.Recv{Max: math.MinInt64},
		&actors.Recv{Max: math.MaxInt64},
		&actors.RecvDisconnect{BufferLen: math.MaxInt64},
		&actors.RecvDisconnect{BufferLen: -1},
		&actors.Subscribe{SubscriberId: "x", Mask: 0xffffffff},
		&actors.Subscribe{SubscriberAddress: "nonhost", Mask: uint32(events.MaskAll)},
		&actors.Subscribe{SubscriberAddress: "nonhost", SubscriberId: "sock/1", Mask: uint32(events.FDWrite)},
		&actors.Unsubscribe{SubscriberAddress: "nonhost"},
		&actors.Send{Data: mib},
		&actors.Send{Data: []byte("hello")},
		&actors.Connect{Address: "tcp://127.0.0.1:1"},
		&actors.Info{},
		&actors.SuspendReading{},
		&actors.ResumeReading{},
	}
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff})                               // not a valid tag
	f.Add([]byte{0x08, 0x80})                         // truncated varint
	f.Add([]byte{0x12, 0x02, 0xff, 0xfe})             // field 2: invalid UTF-8 for strings
	f.Add([]byte{0x0a, 0x00, 0x10, 0x01, 0x18, 0x3f}) // every field number at once

	fx := newFuzzFixture(f)
	f.Cleanup(func() { // runs before the runtime's shutdown
		if err := fx.probe(); err != nil {
			f.Errorf("final probe: %v", err)
		}
	})
	sys := fx.s.rt.System()
	var inputs atomic.Int64

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range fuzzReqs {
			msg := r.new()
			if proto.Unmarshal(data, msg) != nil {
				continue
			}
			for _, tg := range fx.targets {
				if !tg.shut && !r.keepsOpen(msg) {
					continue
				}
				res, err := sys.Root.RequestFuture(tg.pid, msg, 5*time.Second).Result()
				if err != nil {
					t.Fatalf("%s: %T %v: no reply: %v", tg.name, msg, msg, err)
				}
				if !r.isReply(res) {
					t.Fatalf("%s: %T %v: reply %T %v", tg.name, msg, msg, res, res)
				}
			}
		}
		if inputs.Add(1)%16 == 0 {
			if err := fx.probe(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
