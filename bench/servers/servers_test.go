package servers

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines, except for the worker pool that
// gnet's ants dependency starts at package initialisation and never stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

func TestRegistry(t *testing.T) {
	names := Names()
	if len(names) < 3 || names[0] != "gnet" || names[1] != "stdlib" || names[2] != "naive" {
		t.Fatalf("Names = %v, want gnet, stdlib, naive first", names)
	}
	if _, err := New("rawgnet"); err != nil {
		t.Fatalf("alias rawgnet: %v", err)
	}
	if _, err := New("nope"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("New(nope) err = %v", err)
	}
	if Describe("gnet") == "" {
		t.Fatal("gnet has no description")
	}
}

// dialControl connects a test client and reads its "ready" line.
func dialControl(t *testing.T, c *Control) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	return conn, r
}

type fakeBanner struct{}

func (fakeBanner) BanAll(context.Context) (BanReport, error) {
	return BanReport{Conns: 2, Banned: 2, RTTNanos: []int64{5, 6}}, nil
}
func (fakeBanner) BanStats(context.Context) (BanStats, error) { return BanStats{HandlerBytes: 9}, nil }

func TestControl(t *testing.T) {
	c, err := ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve() }()

	// Records made before the client connects are queued for it.
	c.RecordClose(1, "127.0.0.1:1111", 100, 0)
	conn, r := dialControl(t, c)
	c.RecordClose(2, "127.0.0.1:2222", 200, 150)
	for _, want := range []string{"close 1 127.0.0.1:1111 100 0\n", "close 2 127.0.0.1:2222 200 150\n"} {
		if line, err := r.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
	// Commands without a banner, unknown commands, then with a banner.
	tests := []struct{ cmd, wantPrefix string }{
		{"ban", `ban {"error":"this server has no receive ban"}`},
		{"what", `what {"error":"unknown command"}`},
	}
	for _, tt := range tests {
		if _, err := conn.Write([]byte(tt.cmd + "\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, tt.wantPrefix) {
			t.Fatalf("%s: got %q, %v", tt.cmd, line, err)
		}
	}
	c.SetBanner(fakeBanner{})
	for cmd, want := range map[string]string{
		"ban":   `ban {"conns":2,"banned":2,"errors":0,"rtt_ns":[5,6],"concurrency":0}`,
		"stats": `stats {"handler_bytes":9,"during_ban_bytes":0,"after_ban_bytes":0,"banned_bytes":0}`,
	} {
		if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("%s: got %q, %v; want %q", cmd, line, err, want)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close = %v", err)
	}
	_ = conn.Close()
}

func TestCloseFanIn(t *testing.T) {
	tests := []struct {
		name       string
		n          int
		deliveries []int64 // receipt times of socket 7, in delivery order
		wantRecord string
		wantDups   int64
	}{
		{"one subscriber", 1, []int64{10}, "close 7 r 10 1\n", 0},
		{"one subscriber, duplicate", 1, []int64{10, 11}, "close 7 r 10 1\n", 1},
		{"three subscribers, latest wins", 3, []int64{30, 10, 20}, "close 7 r 30 1\n", 0},
		{"three subscribers, one short", 3, []int64{30, 10}, "", 0},
		{"two subscribers, one extra", 2, []int64{5, 6, 7}, "close 7 r 6 1\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newControl(nil)
			f := NewCloseFanIn(tt.n, c)
			for _, ns := range tt.deliveries {
				f.Deliver(7, "r", ns, 1)
			}
			if got := string(c.pending); got != tt.wantRecord {
				t.Fatalf("recorded %q, want %q", got, tt.wantRecord)
			}
			if f.Duplicates() != tt.wantDups {
				t.Fatalf("duplicates = %d, want %d", f.Duplicates(), tt.wantDups)
			}
		})
	}
}
