package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upperServer accepts one TCP connection, answers each read upper-cased
// and, on the client's FIN, writes "bye" and closes.
func upperServer(t *testing.T) (string, func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return upperServe(t, ln)
}

// upperServe is upperServer on any stream listener, which it closes when
// the test ends.
func upperServe(t *testing.T, ln net.Listener) (string, func() string) {
	t.Helper()
	var wg sync.WaitGroup
	var how string
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				_, _ = c.Write(bytes.ToUpper(buf[:n]))
			}
			if err == io.EOF {
				how = "fin"
				_, _ = c.Write([]byte("bye\n"))
				return
			}
			if err != nil {
				how = "error"
				return
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), func() string { wg.Wait(); return how }
}

func TestClientHalfClose(t *testing.T) {
	addr, how := upperServer(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-addr", addr}, strings.NewReader("hello\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "HELLO\nbye\n" {
		t.Fatalf("output %q", got)
	}
	if h := how(); h != "fin" {
		t.Fatalf("server saw %s", h)
	}
}

func TestClientSendReset(t *testing.T) {
	addr, how := upperServer(t)
	if err := run(context.Background(), []string{"-addr", addr, "-send", "x", "-reset"}, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if h := how(); h != "error" && h != "fin" { // Go may report a reset read as EOF
		t.Fatalf("server saw %q", h)
	}
}

func TestClientBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"-nosuch"}, {"extra"}, {"-addr", "127.0.0.1:notaport"},
		{"-addr", "ftp://127.0.0.1:21"}, {"-addr", "udp://127.0.0.1:notaport"}, {"-addr", "unix://"},
		{"-addr", "udp://127.0.0.1:9", "-reset"}, {"-addr", "unix:///nonexistent/s.sock", "-reset"},
	} {
		if err := run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestClientTCPScheme: tcp://host:port is the same as host:port.
func TestClientTCPScheme(t *testing.T) {
	addr, how := upperServer(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-addr", "tcp://" + addr, "-send", "hi"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "HI\nbye\n" {
		t.Fatalf("output %q", got)
	}
	if h := how(); h != "fin" {
		t.Fatalf("server saw %s", h)
	}
}

// TestClientUnix: unix:///path connects to a unix stream socket, half-closes
// at the end of the input and prints the server's last words.
func TestClientUnix(t *testing.T) {
	path := socktest.UnixPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	_, how := upperServe(t, ln)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-addr", "unix://" + path}, strings.NewReader("over unix\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "OVER UNIX\nbye\n" {
		t.Fatalf("output %q", got)
	}
	if h := how(); h != "fin" {
		t.Fatalf("server saw %s", h)
	}
}

// udpUpperServer answers each datagram upper-cased, except "drop", and
// returns its address and what it has received.
func udpUpperServer(t *testing.T) (string, func() []string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			mu.Unlock()
			if string(buf[:n]) != "drop" {
				_, _ = pc.WriteTo(bytes.ToUpper(buf[:n]), from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestClientUDP: udp://host:port sends each input line as one datagram,
// without its newline, and prints each reply as a line. The input stays
// open until every reply is printed, so the end of the input cuts no reply
// short, and the client then ends at once: every datagram has its reply
// (the -wait it is given would fail the test).
func TestClientUDP(t *testing.T) {
	addr, got := udpUpperServer(t)
	stdinR, stdinW := io.Pipe()
	out := socktest.NewLines()
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-addr", "udp://" + addr, "-wait", "1h"}, stdinR, out, io.Discard)
	}()
	for _, l := range []string{"one", "", "two"} {
		if _, err := io.WriteString(stdinW, l+"\n"); err != nil {
			t.Fatal(err)
		}
		want := strings.ToUpper(l)
		out.WaitLine(t, "reply "+want, func(s string) bool { return s == want })
	}
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(socktest.Timeout):
		t.Fatal("run did not return after the input ended")
	}
	if lines, _ := out.Snapshot(); strings.Join(lines, "|") != "ONE||TWO" {
		t.Fatalf("stdout lines %q", lines)
	}
	if g := got(); strings.Join(g, "|") != "one||two" || len(g) != 3 {
		t.Fatalf("server got datagrams %q", g)
	}
}

// TestClientUDPWait: when a datagram gets no reply, the client ends once
// -wait passes without one, and prints the replies it had.
func TestClientUDPWait(t *testing.T) {
	addr, got := udpUpperServer(t)
	out := socktest.NewLines()
	if err := run(context.Background(), []string{"-addr", "udp://" + addr, "-wait", "200ms"}, strings.NewReader("drop\n"), out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if lines, _ := out.Snapshot(); len(lines) != 0 {
		t.Fatalf("stdout lines %q", lines)
	}
	socktest.WaitFor(t, "the server to get the datagram", func() bool { return len(got()) == 1 })
	if g := got(); g[0] != "drop" {
		t.Fatalf("server got datagrams %q", g)
	}
}

// TestClientPeerReset: when the server resets the connection, run's error
// is the socket's read error (ECONNRESET), not a write error on stdout,
// even when stdout is a file (where io.Copy would splice and report the
// socket's error as the file's).
func TestClientPeerReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 6)
		_, _ = io.ReadFull(c, buf) // the client's line: it is connected and reading
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close() // RST
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })

	stdout, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close() // ends the client's copy of its input
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-addr", ln.Addr().String()}, stdinR, stdout, io.Discard)
	}()
	if _, err := io.WriteString(stdinW, "hello\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(socktest.Timeout):
		t.Fatal("run did not return after the reset")
	}
	if !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("run: %v; want a connection reset by peer", err)
	}
	if strings.Contains(err.Error(), "write") || strings.Contains(err.Error(), stdout.Name()) {
		t.Fatalf("run: %v; the reset is blamed on stdout", err)
	}
}
