package servers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFloodWriter checks every flood writer against a peer that reads:
// exactly the flood, in order, whole chunks and the last part one; then,
// with a peer that never reads, that a sockactor writer is refused (it
// waits for FD_WRITE) rather than write past its high-water mark.
func TestFloodWriter(t *testing.T) {
	const flood = 32*FloodChunk + 123 // not a whole number of writes
	want := make([]byte, 0, flood)
	for len(want) < flood {
		want = append(want, floodBuf[:min(FloodChunk, flood-len(want))]...)
	}
	for _, name := range []string{"gnet", "stdlib", "sockactor-inline", "sockactor-pooled"} {
		t.Run(name, func(t *testing.T) {
			srv, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			addr, err := srv.Start(ctx, Config{Listen: "127.0.0.1:0", Mode: ModeFloodWriter, FloodBytes: flood,
				SendHighWater: FloodHighWater})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := srv.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			}()
			conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
			got := make([]byte, flood)
			if _, err := io.ReadFull(conn, got); err != nil {
				t.Fatalf("reading the flood: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the flood's bytes differ from the chunks written")
			}
			// Nothing past the flood: the next read waits until its
			// deadline (the server writes no more, and does not close).
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := conn.Read(got[:1]); n != 0 || !isTimeout(err) {
				t.Fatalf("after the flood: read %d bytes, %v", n, err)
			}
			_ = conn.Close()

			pc, ok := srv.(PeerCounter)
			if !ok {
				return
			}
			// A peer that never reads, with a small window and small
			// segments (the kernel then holds about 150 KB, far less than
			// the flood): the writer is refused.
			before, err := pc.PeerStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
					_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
				})
			}}
			idle, err := d.DialContext(ctx, "tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			deadline := time.Now().Add(15 * time.Second)
			for {
				st, err := pc.PeerStats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.SendsRefused > before.SendsRefused {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no write refused for a peer that never reads: %+v", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFloodModeRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"naive", Config{Listen: "127.0.0.1:0", Mode: ModeFloodWriter}},
		{"gnet", Config{Listen: "127.0.0.1:0", Network: NetUDP, Mode: ModeFloodWriter}},
	} {
		srv, err := New(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Start(context.Background(), tt.cfg); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s %+v: err = %v, want ErrUnsupported", tt.name, tt.cfg, err)
		}
	}
	srv, err := New("stdlib")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start(context.Background(), Config{Listen: "127.0.0.1:0", Mode: "fast"}); err == nil || errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown mode: err = %v, want a usage error", err)
	}
}

func TestControlHeap(t *testing.T) {
	c, err := ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve() }()
	conn, r := dialControl(t, c)
	if _, err := conn.Write([]byte("heap\n")); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var h HeapStats
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "heap ")
	if !ok || json.Unmarshal([]byte(rest), &h) != nil || h.HeapAlloc == 0 || h.HeapSys < h.HeapAlloc || h.NumGC == 0 {
		t.Fatalf("heap reply %q", line)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
}
