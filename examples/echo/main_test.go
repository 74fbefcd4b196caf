package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// TestEchoMetrics runs the command with -metrics on a free port: its first
// line is "listening", its second "metrics http://.../metrics", and after
// an echo the page shows the traffic under the Prometheus names.
func TestEchoMetrics(t *testing.T) {
	for _, d := range []string{"inline", "pooled"} {
		t.Run(d, func(t *testing.T) {
			out, errOut := socktest.NewLines(), socktest.NewLines()
			cmd := socktest.StartCommand(t, withStderr(errOut), []string{"-listen", "127.0.0.1:0", "-dispatch", d, "-loops", "1", "-metrics", "127.0.0.1:0"}, out)
			checkStderr(t, errOut, "tcp echo on "+cmd.Addr)
			metricsLine := out.WaitLine(t, "metrics line", func(l string) bool { return strings.HasPrefix(l, "metrics ") })
			lines, _ := out.Snapshot()
			socktest.CheckListening(t, lines, cmd.Addr)
			if lines[1] != metricsLine || !strings.HasPrefix(metricsLine, "metrics http://127.0.0.1:") || !strings.HasSuffix(metricsLine, "/metrics") {
				t.Fatalf("stdout %q: want the metrics line second", lines)
			}

			c, err := net.DialTimeout("tcp", cmd.Addr, socktest.Timeout)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("hello\n"))
			_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
			buf := make([]byte, 6)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
				t.Fatalf("echo %q, %v", buf, err)
			}
			_ = c.Close()

			url := strings.TrimPrefix(metricsLine, "metrics ")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			var page string
			socktest.WaitFor(t, "the echo's bytes on /metrics", func() bool {
				resp, err := client.Get(url)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				page = string(b)
				return strings.Contains(page, "sockactor_bytes_sent_total{") && hasLine(page, "sockactor_bytes_sent_total", " 6") &&
					hasLine(page, "sockactor_sockets_closed_total{", `reason="peer-close"} 1`)
			})
			for _, name := range []string{"sockactor_sockets_open", "sockactor_sockets_accepted_total", "sockactor_bytes_received_total", "sockactor_limit_hits_total"} {
				if !strings.Contains(page, "\n"+name+"{") {
					t.Errorf("/metrics has no %s:\n%s", name, page)
				}
			}
			cmd.Stop(t)
		})
	}
}

// TestEchoUnix runs the command on a unix socket: the first line is
// "listening <path>", a client that half-closes gets its whole echo then
// EOF, and the socket file is gone once the command has stopped.
func TestEchoUnix(t *testing.T) {
	for _, d := range []string{"inline", "pooled"} {
		t.Run(d, func(t *testing.T) {
			path := socktest.UnixPath(t)
			out, errOut := socktest.NewLines(), socktest.NewLines()
			cmd := socktest.StartCommand(t, withStderr(errOut), []string{"-listen", "unix://" + path, "-dispatch", d, "-loops", "1"}, out)
			lines, _ := out.Snapshot()
			socktest.CheckListening(t, lines, path)
			checkStderr(t, errOut, "unix echo on "+path)
			c := socktest.DialUnix(t, cmd.Addr)
			_, _ = c.Write([]byte("hello over unix\n"))
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "hello over unix\n" {
				t.Fatalf("echo %q, %v; want the line, then EOF", got, err)
			}
			cmd.Stop(t)
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("socket file after the command stopped: %v", err)
			}
		})
	}
}

// hasLine reports whether page has a line starting with prefix that
// contains part.
func hasLine(page, prefix, part string) bool {
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, part) {
			return true
		}
	}
	return false
}

// TestEchoUDP: over udp:// the first line names the real port, and every
// datagram comes back to its sender, one for one, from two senders.
func TestEchoUDP(t *testing.T) {
	for _, d := range []string{"inline", "pooled"} {
		t.Run(d, func(t *testing.T) {
			out, errOut := socktest.NewLines(), socktest.NewLines()
			cmd := socktest.StartCommand(t, withStderr(errOut), []string{"-listen", "udp://127.0.0.1:0", "-dispatch", d, "-loops", "1"}, out)
			lines, _ := out.Snapshot()
			socktest.CheckListening(t, lines, cmd.Addr)
			checkStderr(t, errOut, "udp echo on "+cmd.Addr)
			for _, sender := range []string{"a", "b"} {
				c, err := net.Dial("udp", cmd.Addr)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 2048)
				for i, p := range []string{sender + "1", "", sender + strings.Repeat("x", 1400)} {
					if _, err := c.Write([]byte(p)); err != nil {
						t.Fatal(err)
					}
					_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
					n, err := c.Read(buf)
					if err != nil || string(buf[:n]) != p {
						t.Fatalf("sender %s datagram %d: echo %q, %v; want %q", sender, i, buf[:n], err, p)
					}
				}
				_ = c.Close()
			}
			cmd.Stop(t)
		})
	}
}

// withStderr is run with its stderr collected in errOut.
func withStderr(errOut *socktest.Lines) socktest.RunFunc {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return run(ctx, args, stdout, errOut)
	}
}

// checkStderr checks that the command's stderr, once it is listening, is
// the one line that names its network and address.
func checkStderr(t *testing.T, errOut *socktest.Lines, want string) {
	t.Helper()
	errOut.WaitLine(t, "the network line", func(string) bool { return true })
	if lines, _ := errOut.Snapshot(); len(lines) != 1 || lines[0] != want {
		t.Fatalf("stderr %q, want %q", lines, want)
	}
}
