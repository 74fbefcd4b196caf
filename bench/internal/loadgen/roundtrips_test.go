package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEmptyWindowSaysWhatWasAnswered: a run whose window holds no round
// trip is an error that says how many were answered over the whole run,
// which tells a server that answered nothing (0) from a machine too slow
// for the window (some, all outside it). The servers here are real
// loopback listeners that stop answering on purpose; the warm-up is long
// enough for the one answer to come before the window, even on a loaded
// machine.
func TestEmptyWindowSaysWhatWasAnswered(t *testing.T) {
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
	for _, tc := range []struct {
		name    string
		answers int // responses each connection gets, then silence
		want    string
	}{
		{"never answers", 0, "; 0 over the whole run"},
		{"answers the first request only", 1, "; 2 over the whole run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			serveEach(t, ln, func(c net.Conn) {
				r := bufio.NewReader(c)
				for range tc.answers {
					if _, err := readRequestHead(r); err != nil {
						return
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
				_, _ = io.Copy(io.Discard, r) // silence until the client closes
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := RunHTTP(ctx, HTTPConfig{Target: ln.Addr().String(), Conns: 2, Depth: 1,
				Warmup: 500 * time.Millisecond, Duration: 50 * time.Millisecond, Sources: 1, DialParallel: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Metrics[MetricMsgs] != 0 || len(res.Errors) != 1 ||
				!strings.HasPrefix(res.Errors[0], "no request was answered in the measured window") ||
				!strings.Contains(res.Errors[0], tc.want) {
				t.Fatalf("errors %q, msgs %v; want one empty-window error with %q", res.Errors, res.Metrics[MetricMsgs], tc.want)
			}
		})
	}
}

// serveEach accepts on ln until the test ends and runs serve on each
// connection in a goroutine of its own, closing the connection after it;
// the test's cleanup closes ln and waits for every goroutine.
func serveEach(t *testing.T, ln net.Listener, serve func(net.Conn)) {
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
}

// readRequestHead reads one request head (no body) from r.
func readRequestHead(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String(), nil
		}
		if b.Len() > 16<<10 {
			return "", errors.New("head over 16 KiB")
		}
	}
}
