package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"
)

// ---- the byte stream every transfer sends: byte i is i mod 251 ----

// pattern holds the stream from offset 0 for longer than any one read or
// write, so the bytes at offset o are pattern[o%251:].
var pattern = func() []byte {
	b := make([]byte, 256<<10+251)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

// streamAt returns n bytes of the stream from offset off (n <= 256 KiB).
func streamAt(off int64, n int) []byte {
	s := int(off % 251)
	return pattern[s : s+n]
}

// produce writes total bytes of the stream to c as fast as c takes them.
func produce(c net.Conn, total int64) error {
	for sent := int64(0); sent < total; {
		n := int(min(256<<10, total-sent))
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		m, err := c.Write(streamAt(sent, n))
		sent += int64(m)
		if err != nil {
			return fmt.Errorf("writing, after %d bytes: %w", sent, err)
		}
	}
	return nil
}

// consume reads c to its end, checking every byte against the stream,
// pausing pause after every read of up to 64 KiB (0: as fast as it can).
// It returns the bytes read and the first error other than EOF; a wrong
// byte is an error.
func consume(c net.Conn, pause time.Duration) (int64, error) {
	buf := make([]byte, 64<<10)
	var got int64
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := c.Read(buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], streamAt(got, n)) {
				return got, fmt.Errorf("wrong bytes in the %d read at offset %d", n, got)
			}
			got += int64(n)
			if pause > 0 {
				time.Sleep(pause)
			}
		}
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

// ---- the upstream: a real loopback server run by the test ----

// upstream is a TCP server on loopback whose connections are served by
// serve, each on its own goroutine; the test's cleanup closes it and waits
// for them.
type upstream struct {
	ln   net.Listener
	wg   sync.WaitGroup
	errs chan error // what serve returned, one per connection
}

func startUpstream(t *testing.T, serve func(c *net.TCPConn) error) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, errs: make(chan error, 16)}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(streamDeadline))
				err := serve(c.(*net.TCPConn))
				select {
				case u.errs <- err:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		u.wg.Wait()
	})
	return u
}

// addr returns the upstream's host:port.
func (u *upstream) addr() string { return u.ln.Addr().String() }

// result waits for one connection's serve to return, and returns its error.
func (u *upstream) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-u.errs:
		return err
	case <-time.After(streamDeadline):
		t.Fatal("the upstream connection did not end")
		return nil
	}
}

// ---- the proxy under test ----

// fdCount returns the number of open descriptors of this process.
func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// proxyRun is the proxy command running in this process, and the
// descriptor count from before it started.
type proxyRun struct {
	*socktest.Command
	fds int
}

// startProxy runs the command in front of upstreamAddr.
func startProxy(t *testing.T, mode string, upstreamAddr string, extra ...string) *proxyRun {
	t.Helper()
	fds := fdCount(t)
	out := socktest.NewLines()
	args := append([]string{"-listen", "127.0.0.1:0", "-upstream", upstreamAddr, "-dispatch", mode, "-loops", "2"}, extra...)
	cmd := socktest.StartCommand(t, run, args, out)
	lines, _ := out.Snapshot()
	socktest.CheckListening(t, lines, cmd.Addr)
	return &proxyRun{Command: cmd, fds: fds}
}

// stop stops the command, which must return nil, and checks that it left
// no descriptor open (the test's own connections must be closed first).
func (p *proxyRun) stop(t *testing.T) {
	t.Helper()
	p.Stop(t)
	socktest.WaitFor(t, "the proxy's descriptors to be closed", func() bool { return fdCount(t) <= p.fds })
}

// heapNow returns the live heap after a collection.
func heapNow() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitClosed waits for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(socktest.Timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}
