package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

// ---- the scenarios, run for both dispatch modes ----

// The error replies, spelled out as clients see them.
const (
	errUnknownLine = "ERR WSAEINVAL 10022 unknown command"
	errTooLongLine = "ERR WSAEMSGSIZE 10040 line too long"
)

type scenario struct {
	name string
	ban  actors.BanPolicy
	run  func(t *testing.T, e *env)
}

var scenarios = []scenario{
	{"echo", actors.BanReset, testEcho},
	{"info", actors.BanReset, testInfo},
	{"unknown", actors.BanReset, testUnknown},
	{"long-line", actors.BanReset, testLongLine},
	{"shutrd-discard", actors.BanDiscard, testShutRdDiscard},
	{"shutrd-reset", actors.BanReset, testShutRdReset},
	{"shutwr", actors.BanReset, testShutWr},
	{"close", actors.BanReset, testClose},
	{"abort", actors.BanReset, testAbort},
	{"peer-close", actors.BanReset, testPeerClose},
	{"shutdown", actors.BanReset, testShutdown},
	{"pipelined", actors.BanReset, testPipelined},
	{"half-close", actors.BanReset, testHalfClose},
	{"slow-reader", actors.BanReset, testSlowReader},
}

// TestCommands runs every scenario against a fresh server, under Inline and
// under Pooled dispatch.
func TestCommands(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				sc.run(t, newEnv(t, d, sc.ban))
			})
		}
	})
}

func testEcho(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO hello world", "hello world")
	c.roundTrip("ECHO  two  spaces ", " two  spaces ")
	c.roundTrip("ECHO", "")
	c.roundTrip("ECHO crlf\r", "crlf")
	// Pipelined in one write, and one line split over many writes.
	c.send("ECHO a\nECHO b\r\nECHO c\n")
	c.expect("a")
	c.expect("b")
	c.expect("c")
	for _, b := range []byte("ECHO split\n") {
		c.send(string(b))
	}
	c.expect("split")
}

func testInfo(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO x", "x")
	c.send("INFO\r\n")
	line, err := c.readLine()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &keys); err != nil {
		t.Fatalf("INFO reply %q: %v", line, err)
	}
	for _, k := range []string{"socket", "state", "recv_shut", "send_shut", "bytes_in", "bytes_out", "banned_bytes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("INFO reply %q has no %q", line, k)
		}
	}
	var in infoLine
	if err := json.Unmarshal([]byte(line), &in); err != nil {
		t.Fatalf("INFO reply %q: %v", line, err)
	}
	if in.Socket != c.id || in.State != "open" || in.RecvShut || in.SendShut || in.BannedBytes != 0 {
		t.Errorf("INFO = %+v, want socket %d open, no shutdown, nothing banned", in, c.id)
	}
	if in.BytesIn < uint64(len("ECHO x\nINFO\r\n")) || in.BytesOut < uint64(len("x\n")) {
		t.Errorf("INFO counters in=%d out=%d, want in >= %d, out >= 2", in.BytesIn, in.BytesOut, len("ECHO x\nINFO\r\n"))
	}
	if in.Dispatch != e.dispatch.String() || in.RemoteAddr != c.conn.LocalAddr().String() {
		t.Errorf("INFO dispatch %q remote %q, want %q %q", in.Dispatch, in.RemoteAddr, e.dispatch, c.conn.LocalAddr())
	}
}

func testUnknown(t *testing.T, e *env) {
	c := e.dial()
	for _, cmd := range []string{"FOO", "", "echo lower", "INFO now", "SHUTRD ", "ECHO\tx", "\r"} {
		c.roundTrip(cmd, errUnknownLine)
	}
	c.roundTrip("ECHO still usable", "still usable")
}

func testLongLine(t *testing.T, e *env) {
	c := e.dial()
	// The longest line accepted, with and without "\r".
	longest := "ECHO " + strings.Repeat("a", maxLine-len("ECHO "))
	c.roundTrip(longest, longest[len("ECHO "):])
	c.roundTrip(longest+"\r", longest[len("ECHO "):])
	// One byte more, in one write.
	c.roundTrip(longest+"b", errTooLongLine)
	c.roundTrip("ECHO after one", "after one")
	// 200 KiB over several writes: one error, the rest discarded.
	chunk := strings.Repeat("z", 50<<10)
	for range 4 {
		c.send(chunk)
	}
	c.send("\nECHO after many\n")
	c.expect(errTooLongLine)
	c.expect("after many")
	// The error can come before the line ends; the next line still works.
	c.send(strings.Repeat("y", maxLine+100))
	c.expect(errTooLongLine)
	c.send("yyy\nECHO after early\n")
	c.expect("after early")
}

func testShutRdDiscard(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTRD", "OK SHUTRD 0")
	// The ban is in effect once the reply is out: this is dropped and
	// counted, and the connection stays up.
	junk := "junk after the ban\nINFO\n"
	c.send(junk)
	c.expect("AFTER 1")
	c.expect("AFTER 2")
	c.expect("AFTER 3")
	in := e.pollInfo(c.id, "banned_bytes >= len(junk)", func(in *actors.SocketInfo) bool {
		return in.BannedBytes >= uint64(len(junk))
	})
	if !in.RecvShut || in.State != "open" || in.BanPolicy != "discard" {
		t.Fatalf("after SHUTRD and junk: %v; want recv_shut, open, discard", in)
	}
	// More bytes still do not reset the connection.
	c.send("more junk\n")
	e.pollInfo(c.id, "banned_bytes grew", func(n *actors.SocketInfo) bool {
		return n.BannedBytes >= in.BannedBytes+uint64(len("more junk\n")) && n.State == "open"
	})
	for _, ev := range e.out.events(t) {
		if ev.Kind == "FD_CLOSE" && ev.Socket == c.id {
			t.Fatalf("socket closed under discard: %+v", ev)
		}
	}
	_ = c.conn.Close()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close remote", ev)
	}
}

func testShutRdReset(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTRD", "OK SHUTRD 0")
	c.send("junk after the ban\n")
	c.expectReset("AFTER 1", "AFTER 2", "AFTER 3")
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 10053 || ev.Error != "WSAECONNABORTED" || ev.Reason != "recv-ban" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 10053 recv-ban local", ev)
	}
	// checkStdout verifies after shutdown that it is the only FD_CLOSE.
}

func testShutWr(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("SHUTWR", "OK SHUTWR")
	c.expectEOF()
	// Commands still run; their replies are dropped.
	sent := len("SHUTWR\n")
	for _, cmd := range []string{"ECHO dropped\n", "INFO\n", "BOGUS\n"} {
		c.send(cmd)
		sent += len(cmd)
	}
	in := e.pollInfo(c.id, "every byte received", func(in *actors.SocketInfo) bool {
		return in.BytesIn >= uint64(sent)
	})
	if !in.SendShut || in.RecvShut || in.State != "open" {
		t.Fatalf("after SHUTWR: %v; want send_shut only, open", in)
	}
	c.send("CLOSE\n")
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}
	c.expectEOF()

	// A command pipelined after SHUTWR gets no reply, even in one write.
	c2 := e.dial()
	c2.send("SHUTWR\nECHO too late\n")
	c2.expect("OK SHUTWR")
	c2.expectEOF()
}

func testClose(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("CLOSE", "OK CLOSE")
	c.expectEOF()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Error != "" || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}

	// Nothing after CLOSE runs, even in the same write.
	c2 := e.dial()
	c2.send("ECHO first\r\nCLOSE\nECHO too late\n")
	c2.expect("first")
	c2.expect("OK CLOSE")
	c2.expectEOF()
}

func testAbort(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO before", "before")
	c.send("ABORT\n")
	c.expectReset()
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 10053 || ev.Error != "WSAECONNABORTED" || ev.Reason != "local-abort" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 10053 local-abort local", ev)
	}
}

func testPeerClose(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO bye", "bye")
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local || ev.Remote != c.conn.LocalAddr().String() {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close not local from %s", ev, c.conn.LocalAddr())
	}
}

func testShutdown(t *testing.T, e *env) {
	c := e.dial()
	c.roundTrip("ECHO open", "open")
	e.shutdown()
	// Printed before Shutdown returned: no wait.
	var found bool
	for _, ev := range e.out.events(t) {
		if ev.Kind == "FD_CLOSE" && ev.Socket == c.id {
			found = true
			if ev.Code != 10050 || ev.Error != "WSAENETDOWN" || ev.Reason != "shutdown" || !ev.Local {
				t.Fatalf("FD_CLOSE = %+v, want 10050 shutdown local", ev)
			}
		}
	}
	if !found {
		t.Fatal("no FD_CLOSE printed for the open socket when Shutdown returned")
	}
	c.expectEOF()
}

// testPipelined sends commands answered at once and commands answered
// asynchronously (INFO, SHUTRD) in one write: the answers come in command
// order, and SHUTWR and CLOSE act only after the answers before them.
func testPipelined(t *testing.T, e *env) {
	c := e.dial()
	c.send("ECHO a\nINFO\nBOGUS\nECHO b\n")
	c.expect("a")
	c.expectInfo()
	c.expect(errUnknownLine)
	c.expect("b")
	c.send("INFO\nINFO\nECHO c\r\nINFO\nECHO d\n")
	c.expectInfo()
	c.expectInfo()
	c.expect("c")
	c.expectInfo()
	c.expect("d")
	c.send("INFO\nCLOSE\nECHO too late\n")
	c.expectInfo()
	c.expect("OK CLOSE")
	c.expectEOF()

	// The FIN of SHUTWR follows the pending INFO; a CLOSE after it still
	// closes, without a reply.
	c2 := e.dial()
	c2.send("INFO\nSHUTWR\nECHO dropped\nINFO\nCLOSE\n")
	if in := c2.expectInfo(); in.SendShut {
		t.Errorf("INFO before SHUTWR = %+v, want send_shut false", in)
	}
	c2.expect("OK SHUTWR")
	c2.expectEOF()
	ev := e.out.waitEvent(t, "FD_CLOSE", c2.id)
	if ev.Code != 0 || ev.Reason != "local-close" || !ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 local-close local", ev)
	}

	// SHUTRD's answers queue behind an INFO too.
	c3 := e.dial()
	c3.send("INFO\nECHO x\nSHUTRD\n")
	c3.expectInfo()
	c3.expect("x")
	c3.expect("OK SHUTRD 0")
	c3.expect("AFTER 1")
	c3.expect("AFTER 2")
	c3.expect("AFTER 3")
}

// testHalfClose is a client like `nc -N`: it sends its commands, then
// shutdown(SHUT_WR), then reads to the end. The socket stays writable
// after the FIN (FD_CLOSE peer-close), so every answer arrives, and the
// handler closes the socket once they are out, long before the linger.
func testHalfClose(t *testing.T, e *env) {
	c := e.dial()
	c.send("ECHO hi\nINFO\n")
	start := time.Now()
	if err := c.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expect("hi")
	c.expectInfo()
	c.expectEOF()
	if d := time.Since(start); d >= actors.DefaultLinger/2 {
		t.Errorf("end-of-stream %v after the FIN, want the handler to close well before the %v linger", d, actors.DefaultLinger)
	}
	ev := e.out.waitEvent(t, "FD_CLOSE", c.id)
	if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local {
		t.Fatalf("FD_CLOSE = %+v, want 0 peer-close remote", ev)
	}

	// The AFTER lines of a SHUTRD are pending answers too.
	c2 := e.dial()
	c2.send("INFO\nECHO x\nSHUTRD\n")
	if err := c2.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c2.expectInfo()
	c2.expect("x")
	c2.expect("OK SHUTRD 0")
	c2.expect("AFTER 1")
	c2.expect("AFTER 2")
	c2.expect("AFTER 3")
	c2.expectEOF()
}

// testSlowReader pipelines ECHOs of long lines, far more than the socket's
// send queue takes (SendHighWater, 4 MiB), then an INFO and a FIN, and
// reads nothing for a while: the server's writes are refused, it stops
// reading the client and holds the answers until FD_WRITE, and then every
// answer comes, whole and in order, before the close.
func testSlowReader(t *testing.T, e *env) {
	c := e.dial()
	const echoes = 160 // 160 × 60 KiB: over twice the queue and the kernel's buffers
	done := make(chan error, 1)
	go func() { // one line per read, so that later answers find the queue full
		for i := range echoes {
			line := "ECHO " + strings.Repeat(string(rune('a'+i%26)), 60<<10) + "\n"
			if _, err := c.conn.Write([]byte(line)); err != nil {
				done <- err
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
		if _, err := c.conn.Write([]byte("INFO\n")); err != nil {
			done <- err
			return
		}
		done <- c.conn.CloseWrite()
	}()
	time.Sleep(300 * time.Millisecond)
	for i := range echoes {
		c.expect(strings.Repeat(string(rune('a'+i%26)), 60<<10))
	}
	c.expectInfo()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.expectEOF()
}
