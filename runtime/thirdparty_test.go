package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Back-pressure both ways against a peer this project did not write:
// Python's socket module, as a user's client would be.

// runPython runs a Python 3 script with args and returns its stdout; it
// skips the test where there is no python3.
func runPython(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-c", script}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, msg)
	}
	return strings.TrimSpace(string(out))
}

// pySender sends n bytes (a repeating pattern) with sendall, half-closes,
// and prints what the server answers before its FIN.
const pySender = `
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port))
chunk = bytes(range(256)) * 256
sent = 0
while sent < n:
    m = min(len(chunk), n - sent)
    s.sendall(chunk[:m])
    sent += m
s.shutdown(socket.SHUT_WR)
answer = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    answer += b
print(answer.decode())
`

// TestPythonSenderIsHeldNotCut: Python's sendall pushes 64 MiB at a pooled
// handler that takes 64 KiB a millisecond, with MaxInbound 1 MiB; the
// runtime pauses the socket, sendall simply blocks, and every byte arrives:
// the handler answers with the count once it has them all.
func TestPythonSenderIsHeldNotCut(t *testing.T) {
	const n = 64 << 20
	var got atomic.Int64
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *actors.Received:
			got.Add(int64(len(m.Data)))
			time.Sleep(time.Millisecond * time.Duration(len(m.Data)) / (64 << 10))
		case *events.Event:
			if m.EventKind() == events.FDClose && m.Reason == "peer-close" {
				_, _ = c.WriteString(fmt.Sprint(got.Load()))
				c.Close()
			}
		}
	})
	s := startRT(t, sockrt.Options{MaxInbound: 1 << 20}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
	host, port := splitHostPort(t, s.addr)
	out := runPython(t, pySender, host, port, fmt.Sprint(n))
	if out != fmt.Sprint(n) {
		t.Fatalf("the server took %s of %d bytes", out, n)
	}
	st := s.rt.Stats()
	if st.LimitHits()[sockrt.LimitMaxInbound] == 0 {
		t.Fatal("the socket never paused: the handler was not slower than Python")
	}
	if c := st.Sockets.Closed["limit"]; c != 0 {
		t.Fatalf("%d sockets closed by a limit", c)
	}
}

// pySlowReader reads everything slowly and prints its length and SHA-256.
const pySlowReader = `
import socket, sys, hashlib, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
h = hashlib.sha256()
total = 0
while True:
    b = s.recv(262144)
    if not b:
        break
    h.update(b)
    total += len(b)
    time.sleep(0.0005)
print(total, h.hexdigest())
`

// TestPythonSlowReaderGetsEverything: a handler that writes 40 MiB in
// 3.5 MiB writes, stopping at each refusal and resuming on FD_WRITE, to a
// Python client that reads slowly: the client gets every byte (its
// SHA-256 matches) in both dispatch modes.
func TestPythonSlowReaderGetsEverything(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		r := newResumer(40<<20, 3<<20+512<<10)
		s := startRT(t, sockrt.Options{}, actors.ListenOptions{Dispatch: mode}, r)
		host, port := splitHostPort(t, s.addr)
		out := runPython(t, pySlowReader, host, port)
		sum := sha256.Sum256(r.data)
		if want := fmt.Sprint(len(r.data), " ", hex.EncodeToString(sum[:])); out != want {
			t.Fatalf("python read %q, want %q", out, want)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.nested != 0 || r.fdWrites > r.refusals {
			t.Fatalf("%d nested calls, %d FD_WRITE for %d refusals", r.nested, r.fdWrites, r.refusals)
		}
	})
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q", addr)
	}
	return addr[:i], addr[i+1:]
}
