package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/servers"
)

// TestHTTPCases: the http scenario runs by name and in the full suite,
// not in the default one, on gnet and the sockactor servers in HTTP mode.
func TestHTTPCases(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		cases int
	}{
		{nil, 0},
		{[]string{"-scenarios", "http"}, 2},
		{[]string{"-suite", "full"}, 2},
		{[]string{"-scenarios", "http", "-servers", "stdlib"}, 0},
	} {
		got := casesOf(t, kindHTTP, tc.args...)
		if len(got) != tc.cases {
			t.Fatalf("%q: %d http cases, want %d", tc.args, len(got), tc.cases)
		}
		for _, cs := range got {
			if !slices.Equal(cs.servers, []string{"gnet", "sockactor-inline", "sockactor-pooled"}) ||
				!slices.Equal(cs.serverArgs, []string{"-mode", servers.ModeHTTP}) || !slices.Contains(cs.loadgen, "http") {
				t.Fatalf("%q: case %+v", tc.args, cs)
			}
		}
	}
}

// TestSmokeHTTP starts each HTTP server as a child process, checks a
// pipelined exchange byte for byte, and runs short http loads (depth 16
// and 1) against it; a server without an HTTP mode is unavailable.
func TestSmokeHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &harness{exe: exe, progress: newProgress(io.Discard, false), stderr: io.Discard}
	defer h.children.killAll()
	httpArgs := []string{"-mode", servers.ModeHTTP}

	if _, err := h.startServerWith(ctx, "stdlib", "", false, httpArgs, 0); !errors.As(err, new(*unavailableError)) {
		t.Fatalf("stdlib in http mode: %v, want unavailable", err)
	}
	for _, name := range []string{"gnet", "sockactor-inline", "sockactor-pooled"} {
		t.Run(name, func(t *testing.T) {
			sp, err := h.startServerWith(ctx, name, "", false, httpArgs, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := sp.stop(10 * time.Second); err != nil {
					t.Errorf("stop %s: %v (%s)", name, err, sp.describeExit())
				}
			}()
			conn, err := net.DialTimeout("tcp", sp.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /plaintext HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /json HTTP/1.1\r\nConnection: close\r\n\r\n"
			if _, err := conn.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(bufio.NewReader(conn))
			if err != nil {
				t.Fatal(err)
			}
			s := string(got)
			if strings.Count(s, "HTTP/1.1 200 OK\r\n") != 3 || !strings.Contains(s, "\r\n\r\nHello, World!HTTP/1.1") ||
				!strings.Contains(s, "\r\n\r\nhiHTTP/1.1") || !strings.HasSuffix(s, "Connection: close\r\n\r\n"+`{"message":"Hello, World!"}`) {
				t.Fatalf("replies %q", s)
			}
			for _, depth := range []string{"16", "1"} {
				res, err := h.runLoadgen(ctx, []string{"-role", "loadgen", "-scenario", "http", "-target", sp.addr,
					"-server-pid", strconv.Itoa(sp.pid()), "-conns", "4", "-window", depth, "-warmup", "20ms", "-duration", "300ms"}, 30*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if res.Scenario != "http" || res.Metrics[loadgen.MetricMismatches] != 0 || res.Metrics[loadgen.MetricConns] != 4 ||
					res.Metrics[loadgen.MetricMsgs] == 0 || len(res.Errors) != 0 {
					b, _ := json.Marshal(res)
					t.Fatalf("depth %s: loadgen result %s", depth, b)
				}
			}
		})
	}
}
