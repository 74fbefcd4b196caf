package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

var modes = []string{"inline", "pooled"}

// start runs the command on a free port with dispatch d.
func start(t *testing.T, d string) string {
	t.Helper()
	cmd := socktest.StartCommand(t, run, []string{"-listen", "127.0.0.1:0", "-dispatch", d, "-loops", "2"}, socktest.NewLines())
	return cmd.Addr
}

// each runs body against a server of each dispatch mode.
func each(t *testing.T, body func(t *testing.T, addr string)) {
	for _, d := range modes {
		t.Run(d, func(t *testing.T) { body(t, start(t, d)) })
	}
}

// cmd encodes args as a RESP array of bulk strings.
func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, socktest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * socktest.Timeout))
	return c
}

// expect reads exactly len(want) bytes from c and compares.
func expect(t *testing.T, c net.Conn, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("read %.200q, %v\nwant %.200q", got, err, want)
	}
}

// writeAll writes each of reads to c, pausing between them so that the
// server gets them in separate reads.
func writeAll(t *testing.T, c net.Conn, reads ...string) {
	t.Helper()
	for i, r := range reads {
		if i > 0 {
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := c.Write([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
}

// conversation covers every command, on keys it deletes first.
var conversation = []struct{ req, reply string }{
	{cmd("DEL", "k", "n", "bin"), ""}, // its reply depends on the test before: read separately
	{cmd("PING"), "+PONG\r\n"},
	{cmd("PING", "hello"), "$5\r\nhello\r\n"},
	{cmd("ECHO", "a\r\nb"), "$4\r\na\r\nb\r\n"},
	{cmd("GET", "k"), "$-1\r\n"},
	{cmd("SET", "k", "v"), "+OK\r\n"},
	{cmd("GET", "k"), "$1\r\nv\r\n"},
	{cmd("EXISTS", "k", "n", "k"), ":2\r\n"},
	{cmd("INCR", "k"), "-ERR value is not an integer or out of range\r\n"},
	{cmd("INCR", "n"), ":1\r\n"},
	{cmd("INCR", "n"), ":2\r\n"},
	{cmd("SET", "bin", "\x00\xff\r\n\r\n"), "+OK\r\n"},
	{cmd("GET", "bin"), "$6\r\n\x00\xff\r\n\r\n\r\n"},
	{cmd("DEL", "k", "n", "nope"), ":2\r\n"},
	{cmd("X"), "-ERR unknown command 'X'\r\n"},
	{cmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n"},
	{"GET bin\r\n", "$6\r\n\x00\xff\r\n\r\n\r\n"},
}

func stream() (req, reply string) {
	var q, r strings.Builder
	for _, c := range conversation[1:] {
		q.WriteString(c.req)
		r.WriteString(c.reply)
	}
	return q.String(), r.String()
}

// reset deletes the conversation's keys on a connection of its own.
func reset(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	writeAll(t, c, conversation[0].req)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line[0] != ':' {
		t.Fatalf("DEL: %q, %v", line, err)
	}
	_ = c.Close()
}

// TestCommands sends every command one at a time.
func TestCommands(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		reset(t, addr)
		c := dial(t, addr)
		for _, cv := range conversation[1:] {
			writeAll(t, c, cv.req)
			expect(t, c, cv.reply)
		}
	})
}

// TestPipelined sends the conversation in one write, then a thousand SETs
// and GETs in one write: every reply comes, in order.
func TestPipelined(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		reset(t, addr)
		c := dial(t, addr)
		req, reply := stream()
		writeAll(t, c, req)
		expect(t, c, reply)
		var q, r strings.Builder
		for i := range 1000 {
			k, v := fmt.Sprintf("p%d", i), strings.Repeat("v", i%50)
			q.WriteString(cmd("SET", k, v) + cmd("GET", k))
			fmt.Fprintf(&r, "+OK\r\n$%d\r\n%s\r\n", len(v), v)
		}
		writeAll(t, c, q.String())
		expect(t, c, r.String())
	})
}

// TestCuts writes the conversation cut in two at every byte boundary, the
// halves in two writes with a pause between: the replies are the same.
func TestCuts(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		req, reply := stream()
		for i := 1; i < len(req); i++ {
			reset(t, addr)
			c := dial(t, addr)
			writeAll(t, c, req[:i], req[i:])
			expect(t, c, reply)
			_ = c.Close()
		}
	})
}

// TestInline speaks as telnet does.
func TestInline(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		c := dial(t, addr)
		writeAll(t, c, "PING\r\nSET inline  word\r\n\r\nGET inline\r\nDEL inline\n", "EXISTS inline\r\n")
		expect(t, c, "+PONG\r\n+OK\r\n$4\r\nword\r\n:1\r\n:0\r\n")
		writeAll(t, c, "QUIT\r\n")
		expect(t, c, "+OK\r\n")
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("after QUIT: %q, %v; want EOF", b, err)
		}
	})
}

// TestBinaryValues stores every byte value, and a 3 MiB value with "\r\n"
// all through it, written in many pieces.
func TestBinaryValues(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		c := dial(t, addr)
		var all []byte
		for i := range 256 {
			all = append(all, byte(i))
		}
		big := bytes.Repeat([]byte("\r\n$3\r\n*1\r\n\x00"), 300_000)
		for _, v := range [][]byte{all, big} {
			req := cmd("SET", "binval", string(v)) + cmd("GET", "binval")
			var reads []string
			for len(req) > 0 {
				n := min(len(req), 100_000)
				reads, req = append(reads, req[:n]), req[n:]
			}
			writeAll(t, c, reads...)
			expect(t, c, fmt.Sprintf("+OK\r\n$%d\r\n%s\r\n", len(v), v))
		}
		writeAll(t, c, cmd("DEL", "binval"))
		expect(t, c, ":1\r\n")
	})
}

// TestSlowReader pipelines GETs of a 1 MiB value, far more than the
// socket's send queue takes (SendHighWater, 4 MiB), and reads nothing for a
// while: the server's writes are refused, it stops reading the client and
// holds the replies until FD_WRITE, and then every reply comes, in order.
func TestSlowReader(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		c := dial(t, addr)
		v := strings.Repeat("x", 1<<20)
		writeAll(t, c, cmd("SET", "slow", v))
		expect(t, c, "+OK\r\n")
		const gets = 48
		done := make(chan error, 1)
		go func() { // one GET per read, so that later replies find the queue full
			for range gets {
				if _, err := c.Write([]byte(cmd("GET", "slow"))); err != nil {
					done <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
			_, err := c.Write([]byte(cmd("DEL", "slow")))
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		r := bufio.NewReaderSize(c, 1<<16)
		want := fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
		got := make([]byte, len(want))
		for i := range gets {
			if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
				t.Fatalf("reply %d: %.40q, %v", i, got, err)
			}
		}
		if line, err := r.ReadString('\n'); err != nil || line != ":1\r\n" {
			t.Fatalf("DEL: %q, %v", line, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestMalformed sends requests Redis calls protocol errors: each gets
// "-ERR Protocol error: ..." after the replies before it, then the
// connection is closed, while another client goes on being served.
func TestMalformed(t *testing.T) {
	each(t, func(t *testing.T, addr string) {
		other := dial(t, addr)
		for _, m := range []struct{ req, msg string }{
			{"*1\r\n$x\r\n", "invalid bulk length"},
			{"*2\r\n$3\r\nGET\r\n$99999999999\r\n", "invalid bulk length"},
			{fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\n", 64<<20+1), "invalid bulk length"},
			{"*1x\r\n", "invalid multibulk length"},
			{"*1\r\n:1\r\n", "expected '$', got ':'"},
			{strings.Repeat("A", 70_000), "too big inline request"},
		} {
			c := dial(t, addr)
			writeAll(t, c, cmd("PING")+m.req)
			b, err := io.ReadAll(c)
			if want := "+PONG\r\n-ERR Protocol error: " + m.msg + "\r\n"; string(b) != want || err != nil {
				t.Fatalf("%.30q: got %q, %v; want %q then EOF", m.req, b, err, want)
			}
			writeAll(t, other, cmd("PING"))
			expect(t, other, "+PONG\r\n")
		}
		expect(t, func() net.Conn { c := dial(t, addr); writeAll(t, c, "PING\r\n"); return c }(), "+PONG\r\n")
	})
}

// TestRedisCLI drives the server with redis-cli, when it is installed
// (apt-get install redis-tools).
func TestRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not on PATH")
	}
	each(t, func(t *testing.T, addr string) {
		host, port, _ := net.SplitHostPort(addr)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"ping"}, "PONG"},
			{[]string{"set", "cli", "hello world"}, "OK"},
			{[]string{"get", "cli"}, `"hello world"`},
			{[]string{"exists", "cli", "none"}, "(integer) 1"},
			{[]string{"incr", "cli:n"}, "(integer) 1"},
			{[]string{"incr", "cli"}, "(error) ERR value is not an integer or out of range"},
			{[]string{"del", "cli", "cli:n"}, "(integer) 2"},
			{[]string{"get", "cli"}, "(nil)"},
			{[]string{"echo", "x"}, `"x"`},
			{[]string{"nosuch"}, "(error) ERR unknown command 'nosuch'"},
		} {
			out, err := exec.Command(cli, append([]string{"-h", host, "-p", port, "--no-raw"}, c.args...)...).CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != c.want {
				t.Errorf("redis-cli %q: %q, %v; want %q", c.args, got, err, c.want)
			}
		}
	})
}

// TestRunErrors: bad flags and a taken address are errors, with nothing on
// stdout.
func TestRunErrors(t *testing.T) {
	socktest.CheckRunErrors(t, run, [][]string{
		{"-dispatch", "nope"},
		{"-listen", socktest.BusyAddr(t)},
		{"-shards", "0"},
		{"extra"},
	})
}
