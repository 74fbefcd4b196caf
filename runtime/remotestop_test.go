package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// TestShutdownUnreachableSubscriber: a runtime-wide subscriber on a node
// that cannot be reached holds Shutdown for at most remoteStopWait, where
// protoactor's connection attempts to it (made inside its writer's start,
// a 2 s sleep after each failure) held it for ConnectRetries x 2 s (nothing
// listens: refused at once) or ConnectRetries x (3 s + 2 s) (a node that
// accepts connections and never answers, as a stopped process does). The
// rest finishes in the background: the test waits for it, then checks
// that no descriptor is left on the unreachable node's port or the node's
// own (and goleak that no gRPC connection is left retrying).
func TestShutdownUnreachableSubscriber(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retries int
		silent  bool
	}{
		{"refused", 0, false}, // the default retries
		{"silent", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The unreachable node: a port nothing listens on, or a
			// listener that never accepts (the kernel completes the TCP
			// handshake; no gRPC answer ever comes).
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			if tc.silent {
				defer l.Close()
			} else {
				l.Close()
			}

			rt, err := New(Options{EventLoops: 1, Remote: &RemoteOptions{Listen: "127.0.0.1:0", ConnectRetries: tc.retries}})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rt.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := rt.Subscribe(actor.NewPID(addr, "watcher"), events.MaskAll); err != nil {
				t.Fatal(err)
			}
			// Events for it: an accept and a close each.
			const conns = 3
			for i := 0; i < conns; i++ {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			deadline := time.Now().Add(10 * time.Second)
			for rt.Stats().Events.Delivered < 2*conns {
				if time.Now().After(deadline) {
					t.Fatalf("%d events handed to the remote subscriber, want %d", rt.Stats().Events.Delivered, 2*conns)
				}
				time.Sleep(time.Millisecond)
			}

			// The node's endpoint watcher (protoactorinternal.go), which the
			// graceful stop stops before protoactor's Shutdown(true). The
			// silent node's endpoint stays, connecting; the refused one's may
			// be gone already.
			var watcher *actor.PID
			for deadline := time.Now().Add(10 * time.Second); watcher == nil; time.Sleep(time.Millisecond) {
				pids, found := endpointWatchers(rt.remote.r)
				if !found {
					t.Fatal("protoactor's endpoint list not found: its layout changed (see protoactorinternal.go)")
				}
				if len(pids) > 1 {
					t.Fatalf("%d endpoint watchers, want at most 1 (one node)", len(pids))
				}
				if len(pids) == 1 {
					watcher = pids[0]
				} else if !tc.silent || time.Now().After(deadline) {
					break
				}
			}
			if tc.silent && watcher == nil {
				t.Fatal("no endpoint watcher for the silent node")
			}

			start := time.Now()
			if err := rt.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			t.Logf("Shutdown took %v", took)
			// Generous for a noisy machine: without the bound it took 4 s
			// (refused) and 5 s (silent, one retry).
			if took > 3*time.Second {
				t.Fatalf("Shutdown took %v with an unreachable subscriber", took)
			}
			select {
			case <-rt.remote.stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("remote's graceful stop did not end in the background")
			}
			if watcher != nil {
				if _, ok := rt.system.ProcessRegistry.GetLocal(watcher.Id); ok {
					t.Fatalf("endpoint watcher %v still registered after the stop", watcher)
				}
			}
			l.Close()
			// No descriptor of this process is left on a connection to the
			// unreachable node or on the node's own remote server.
			ports := []string{portOf(addr), portOf(rt.Address())}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				left := socketsOn(t, ports)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("descriptors left on ports %v: %v", ports, left)
				}
			}
		})
	}
}

// portOf returns the port of host:port.
func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

// socketsOn lists this process's TCP descriptors whose local or remote
// port is one of ports (from /proc/net/tcp, by socket inode).
func socketsOn(t *testing.T, ports []string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	mine := map[string]string{} // socket inode -> fd
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = e.Name()
		}
	}
	hex := map[string]bool{}
	for _, p := range ports {
		n, _ := strconv.Atoi(p)
		hex[fmt.Sprintf("%04X", n)] = true
	}
	var left []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			local, remote := f[1][strings.LastIndex(f[1], ":")+1:], f[2][strings.LastIndex(f[2], ":")+1:]
			if fd, ok := mine[f[9]]; ok && (hex[local] || hex[remote]) {
				left = append(left, fmt.Sprintf("fd %s: %s -> %s state %s", fd, f[1], f[2], f[3]))
			}
		}
	}
	return left
}
