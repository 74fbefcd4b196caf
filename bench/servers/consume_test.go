package servers

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowConsumer runs every slow consumer against a client that writes
// a stream and half-closes: the application takes every byte, no faster
// than its rate (ConsumeChunk per period; a sleep or a timer never ends
// early, so this bound holds on any machine), and counts the connection
// and no close. The client's writes are held back meanwhile by TCP, not
// refused.
func TestSlowConsumer(t *testing.T) {
	const (
		total  = 64 * ConsumeChunk
		period = 2 * time.Millisecond
	)
	for _, name := range []string{"stdlib", "sockactor-inline", "sockactor-pooled"} {
		t.Run(name, func(t *testing.T) {
			srv, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			addr, err := srv.Start(ctx, Config{Listen: "127.0.0.1:0", Mode: ModeSlowConsumer, ConsumePeriod: period})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := srv.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			}()
			cons, ok := srv.(Consumer)
			if !ok {
				t.Fatalf("%s is not a Consumer", name)
			}
			conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			start := time.Now()
			buf := make([]byte, total)
			if _, err := conn.Write(buf); err != nil {
				t.Fatal(err)
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for cons.ConsumerStats().Bytes < total {
				if time.Now().After(deadline) {
					t.Fatalf("the consumer took %d of %d bytes", cons.ConsumerStats().Bytes, total)
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			// The first bite is taken at once; each later one waits its period.
			if least := (total/ConsumeChunk - 2) * period; elapsed < least {
				t.Fatalf("%d bytes consumed in %v: faster than the consumer's rate allows (%v)", total, elapsed, least)
			}
			if st := cons.ConsumerStats(); st.Bytes != total || st.Conns != 1 || st.Closed != 0 {
				t.Fatalf("consumer stats %+v, want %d bytes, 1 conn, 0 closed", st, total)
			}
		})
	}
}

// TestSlowConsumerModeRefused: servers without a slow consumer, and any
// network but TCP, are refused as unsupported.
func TestSlowConsumerModeRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"gnet", Config{Listen: "127.0.0.1:0", Mode: ModeSlowConsumer}},
		{"naive", Config{Listen: "127.0.0.1:0", Mode: ModeSlowConsumer}},
		{"sockactor-pooled", Config{Listen: "127.0.0.1:0", Network: NetUDP, Mode: ModeSlowConsumer}},
	} {
		srv, err := New(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Start(context.Background(), tt.cfg); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s %+v: err = %v, want ErrUnsupported", tt.name, tt.cfg, err)
		}
	}
}

type fakeConsumer struct{}

func (fakeConsumer) ConsumerStats() ConsumerStats {
	return ConsumerStats{Bytes: 1 << 20, Conns: 2, Closed: 0}
}

func TestControlConsumed(t *testing.T) {
	c, err := ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve() }()
	conn, r := dialControl(t, c)
	ask := func(want string) {
		t.Helper()
		if _, err := conn.Write([]byte("consumed\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
	ask(`consumed {"error":"this server has no slow consumer"}`)
	c.SetConsumer(fakeConsumer{})
	ask(`consumed {"bytes":1048576,"conns":2,"closed":0}`)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
}
