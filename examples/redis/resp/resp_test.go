package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cmd encodes args as a RESP array of bulk strings.
func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// serve runs data through a fresh session on store, in the reads given.
func serve(t *testing.T, store *Store, reads ...string) (string, error) {
	t.Helper()
	s := NewSession(store)
	var out []byte
	var err error
	for _, r := range reads {
		if out, err = s.Serve([]byte(r), out); err != nil {
			break
		}
	}
	return string(out), err
}

// Conversation is a request stream and the replies Redis gives it, on an
// empty key space.
var conversation = []struct{ req, reply string }{
	{cmd("PING"), "+PONG\r\n"},
	{cmd("ping", "hi there"), "$8\r\nhi there\r\n"},
	{cmd("PING", "a", "b"), "-ERR wrong number of arguments for 'ping' command\r\n"},
	{cmd("ECHO", "bin\r\n\x00ary"), "$9\r\nbin\r\n\x00ary\r\n"},
	{cmd("echo"), "-ERR wrong number of arguments for 'echo' command\r\n"},
	{cmd("GET", "k"), "$-1\r\n"},
	{cmd("SET", "k", "v\r\n1"), "+OK\r\n"},
	{cmd("GET", "k"), "$4\r\nv\r\n1\r\n"},
	{cmd("Set", "k", ""), "+OK\r\n"},
	{cmd("GET", "k"), "$0\r\n\r\n"},
	{cmd("SET", "k"), "-ERR wrong number of arguments for 'set' command\r\n"},
	{cmd("SET", "k", "v", "NX"), "-ERR syntax error\r\n"},
	{cmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n"},
	{cmd("GET", "a", "b"), "-ERR wrong number of arguments for 'get' command\r\n"},
	{cmd("EXISTS", "k", "nope", "k"), ":2\r\n"},
	{cmd("EXISTS"), "-ERR wrong number of arguments for 'exists' command\r\n"},
	{cmd("INCR", "k"), "-ERR value is not an integer or out of range\r\n"},
	{cmd("INCR", "n"), ":1\r\n"},
	{cmd("incr", "n"), ":2\r\n"},
	{cmd("SET", "m", "-10"), "+OK\r\n"},
	{cmd("INCR", "m"), ":-9\r\n"},
	{cmd("SET", "m", "007"), "+OK\r\n"},
	{cmd("INCR", "m"), "-ERR value is not an integer or out of range\r\n"},
	{cmd("SET", "m", "9223372036854775807"), "+OK\r\n"},
	{cmd("INCR", "m"), "-ERR increment or decrement would overflow\r\n"},
	{cmd("INCR"), "-ERR wrong number of arguments for 'incr' command\r\n"},
	{cmd("DEL", "k", "n", "nope"), ":2\r\n"},
	{cmd("DEL"), "-ERR wrong number of arguments for 'del' command\r\n"},
	{cmd("EXISTS", "k"), ":0\r\n"},
	{cmd("FLUSHALL"), "-ERR unknown command 'FLUSHALL'\r\n"},
	{cmd("bad\r\nname"), "-ERR unknown command 'bad  name'\r\n"},
	{cmd(""), "-ERR unknown command ''\r\n"},
	{"*0\r\n*-1\r\n", ""},
	{"PING\r\n", "+PONG\r\n"},
	{"  set  inl   ine \r\n", "+OK\r\n"},
	{"GET inl\n", "$3\r\nine\r\n"},
	{"\r\n\r\n", ""},
	{cmd("DEL", "m", "inl"), ":2\r\n"},
}

func wholeConversation() (req, reply string) {
	var q, r strings.Builder
	for _, c := range conversation {
		q.WriteString(c.req)
		r.WriteString(c.reply)
	}
	return q.String(), r.String()
}

func TestCommands(t *testing.T) {
	store := NewStore(4)
	s := NewSession(store)
	for _, c := range conversation {
		out, err := s.Serve([]byte(c.req), nil)
		if err != nil || string(out) != c.reply {
			t.Errorf("%q: got %q, %v; want %q", c.req, out, err, c.reply)
		}
	}
	if n := store.Len(); n != 0 {
		t.Errorf("%d keys left", n)
	}
}

// TestPipelined sends the whole conversation in one read: one buffer of
// every reply, in order.
func TestPipelined(t *testing.T) {
	req, reply := wholeConversation()
	got, err := serve(t, NewStore(1), req)
	if err != nil || got != reply {
		t.Fatalf("got %q, %v\nwant %q", got, err, reply)
	}
}

// TestCuts cuts the conversation at every byte boundary, and at every pair
// of boundaries a few bytes apart: the replies are the same.
func TestCuts(t *testing.T) {
	req, reply := wholeConversation()
	for i := range len(req) + 1 {
		if got, err := serve(t, NewStore(2), req[:i], req[i:]); err != nil || got != reply {
			t.Fatalf("cut at %d: got %q, %v", i, got, err)
		}
		for _, gap := range []int{1, 2, 3, 7} {
			j := min(i+gap, len(req))
			if got, err := serve(t, NewStore(2), req[:i], req[i:j], req[j:]); err != nil || got != reply {
				t.Fatalf("cuts at %d, %d: got %q, %v", i, j, got, err)
			}
		}
	}
	// One byte per read.
	reads := strings.Split(req, "")
	if got, err := serve(t, NewStore(2), reads...); err != nil || got != reply {
		t.Fatalf("byte by byte: got %q, %v", got, err)
	}
}

// TestLargeValue sets and gets a value that spans many reads, "\r\n"
// inside.
func TestLargeValue(t *testing.T) {
	val := bytes.Repeat([]byte("0123456789abc\r\n"), 100_000)
	req := cmd("SET", "big", string(val)) + cmd("GET", "big") + cmd("PING")
	var reads []string
	for len(req) > 0 {
		n := min(len(req), 65536)
		reads, req = append(reads, req[:n]), req[n:]
	}
	got, err := serve(t, NewStore(1), reads...)
	want := "+OK\r\n" + fmt.Sprintf("$%d\r\n%s\r\n", len(val), val) + "+PONG\r\n"
	if err != nil || got != want {
		t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(want))
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, c := range []struct{ req, msg string }{
		{"*x\r\n", "invalid multibulk length"},
		{"*2000000\r\n", "invalid multibulk length"},
		{"*1\r\n$abc\r\n", "invalid bulk length"},
		{"*1\r\n$-1\r\n", "invalid bulk length"},
		{fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\n", MaxBulk+1), "invalid bulk length"},
		{"*1\r\n+PING\r\n", "expected '$', got '+'"},
		{"*1\r\n\r\n", "expected '$', got ''"},
		{strings.Repeat("x", MaxInline+2), "too big inline request"},
		{"*1\r\n$" + strings.Repeat("1", MaxInline+2), "too big bulk count string"},
	} {
		s := NewSession(NewStore(1))
		out, err := s.Serve([]byte(cmd("PING")+c.req+cmd("PING")), nil)
		want := "+PONG\r\n-ERR Protocol error: " + c.msg + "\r\n"
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Msg != c.msg || string(out) != want {
			t.Errorf("%.40q: got %q, %v; want %q", c.req, out, err, want)
		}
		// The stream stays failed.
		if out, err := s.Serve([]byte(cmd("PING")), nil); len(out) == 0 || !errors.As(err, &pe) {
			t.Errorf("%.40q: after the error: %q, %v", c.req, out, err)
		}
	}
}

func TestQuit(t *testing.T) {
	s := NewSession(NewStore(1))
	out, err := s.Serve([]byte(cmd("PING")+cmd("QUIT")+cmd("PING")), nil)
	if !errors.Is(err, ErrQuit) || string(out) != "+PONG\r\n+OK\r\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	if out, err := s.Serve([]byte(cmd("PING")), nil); !errors.Is(err, ErrQuit) || len(out) != 0 {
		t.Fatalf("after QUIT: %q, %v", out, err)
	}
}

// FuzzParser feeds any bytes, whole and cut in two: no panic, and the same
// commands and error either way.
func FuzzParser(f *testing.F) {
	req, _ := wholeConversation()
	f.Add([]byte(req), 7)
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), 9)
	f.Add([]byte("*1\r\n$-5\r\n"), 3)
	f.Add([]byte("SET a b\r\nGET a\n"), 4)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		run := func(reads ...[]byte) ([]string, error) {
			var p Parser
			var got []string
			var err error
			for _, r := range reads {
				if err = p.Feed(r, func(args [][]byte) bool {
					got = append(got, fmt.Sprintf("%q", args))
					return true
				}); err != nil {
					break
				}
			}
			return got, err
		}
		whole, werr := run(data)
		if cut < 0 {
			cut = -cut
		}
		cut %= len(data) + 1
		parts, perr := run(data[:cut], data[cut:])
		if fmt.Sprint(whole) != fmt.Sprint(parts) || fmt.Sprint(werr) != fmt.Sprint(perr) {
			t.Fatalf("whole: %v, %v\ncut at %d: %v, %v", whole, werr, cut, parts, perr)
		}
		// And the session answers without panicking.
		_, _ = NewSession(NewStore(1)).Serve(data, nil)
	})
}
