package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upperServer accepts one connection, answers each read upper-cased and,
// on the client's FIN, writes "bye" and closes.
func upperServer(t *testing.T) (string, func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	for _, args := range [][]string{{"-nosuch"}, {"extra"}, {"-addr", "127.0.0.1:notaport"}} {
		if err := run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
