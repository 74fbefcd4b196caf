package actors_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// helperHandler runs one Context helper per command line received (whole
// in one read: the tests write one short command at a time) and reports
// what the handler saw on seen, one line per observation.
func helperHandler(seen chan<- string) actors.Handler {
	return actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *actors.Received:
			switch cmd := strings.TrimSpace(string(m.Data)); cmd {
			case "close":
				_, _ = c.WriteString("bye\n")
				c.Close()
			case "abort":
				c.Abort()
			case "shutwr":
				_, _ = c.WriteString("fin\n")
				c.SendDisconnect()
			case "shutrd":
				_, err := c.RecvDisconnect()
				seen <- "recvdisconnect err=" + errString(err)
				_, _ = c.WriteString("banned\n")
			case "recv":
				c.Recv(16) // push mode: nothing is ever buffered
			default:
				seen <- "received " + cmd
			}
		case *actors.SendDisconnectResult:
			seen <- "senddisconnect err=" + errString(m.Err())
			_, err := c.WriteString("late\n")
			seen <- "write after senddisconnect shutdown=" + boolString(errors.Is(err, winsock.ErrShutdown))
		case *actors.RecvResult:
			seen <- "recv wouldblock=" + boolString(errors.Is(m.Err(), winsock.ErrWouldBlock))
		case *actors.CloseResult:
			seen <- "closeresult" // never: the socket is released as it is sent
		case *events.Event:
			if m.EventKind() == events.FDClose {
				seen <- "fdclose " + m.Reason
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// expectSeen reads the next observation and compares it.
func expectSeen(tb testing.TB, seen <-chan string, want string) {
	tb.Helper()
	select {
	case got := <-seen:
		if got != want {
			tb.Fatalf("handler saw %q, want %q", got, want)
		}
	case <-time.After(socktest.Timeout):
		tb.Fatalf("handler saw nothing, want %q", want)
	}
}

// readAll reads until EOF or an error and returns both.
func readAll(c net.Conn) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
	var b bytes.Buffer
	_, err := io.Copy(&b, c)
	return b.String(), err
}

// TestContextHelpers drives Close, Abort, SendDisconnect, RecvDisconnect and
// Recv from a handler, in both dispatch modes: each is a request to the
// socket itself, ordered after the handler's earlier writes.
func TestContextHelpers(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		seen := make(chan string, 16)
		s := startRuntime(t, sockrt.Options{}, listenSpec{h: helperHandler(seen), opts: actors.ListenOptions{Dispatch: d}})

		t.Run("Close", func(t *testing.T) {
			c, _ := s.dial(t, 0)
			_, _ = c.Write([]byte("close"))
			if got, err := readAll(c); got != "bye\n" || err != nil {
				t.Fatalf("client read %q, %v; want the write, then EOF", got, err)
			}
			expectSeen(t, seen, "fdclose local-close")
		})
		t.Run("Abort", func(t *testing.T) {
			c, _ := s.dial(t, 0)
			_, _ = c.Write([]byte("abort"))
			if _, err := readAll(c); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("client read error %v, want a reset", err)
			}
			expectSeen(t, seen, "fdclose local-abort")
		})
		t.Run("SendDisconnect", func(t *testing.T) {
			c, _ := s.dial(t, 0)
			_, _ = c.Write([]byte("shutwr"))
			if got, err := readAll(c); got != "fin\n" || err != nil {
				t.Fatalf("client read %q, %v; want the write, then EOF", got, err)
			}
			expectSeen(t, seen, "senddisconnect err=nil")
			expectSeen(t, seen, "write after senddisconnect shutdown=true")
			_, _ = c.Write([]byte("still heard")) // receiving goes on
			expectSeen(t, seen, "received still heard")
			_ = c.Close()
			expectSeen(t, seen, "fdclose peer-close")
		})
		t.Run("RecvDisconnect", func(t *testing.T) {
			c, _ := s.dial(t, 0)
			_, _ = c.Write([]byte("shutrd"))
			expectSeen(t, seen, "recvdisconnect err=nil")
			_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
			buf := make([]byte, len("banned\n"))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "banned\n" {
				t.Fatalf("client read %q, %v", buf, err)
			}
			_ = c.Close()
			expectSeen(t, seen, "fdclose peer-close")
		})
		t.Run("Recv", func(t *testing.T) {
			c, _ := s.dial(t, 0)
			_, _ = c.Write([]byte("recv"))
			expectSeen(t, seen, "recv wouldblock=true")
			_ = c.Close()
			expectSeen(t, seen, "fdclose peer-close")
		})
		select {
		case extra := <-seen:
			t.Fatalf("handler also saw %q", extra)
		default:
		}
	})
}

// TestContextRecvPull pulls a pull-mode socket's bytes from its own
// handler: FD_READ, then Recv until WSAEWOULDBLOCK, in both modes.
func TestContextRecvPull(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		h := actors.HandlerFunc(func(c *actors.Context) {
			switch m := c.Message().(type) {
			case *events.Event:
				switch m.EventKind() {
				case events.FDRead:
					c.Recv(4)
				case events.FDClose:
					c.Recv(4) // the rest, then 0 bytes and no error
				}
			case *actors.RecvResult:
				if m.Err() == nil && len(m.Data) > 0 {
					_, _ = c.Write(bytes.ToUpper(m.Data))
					c.Recv(4)
				} else if m.Err() == nil {
					c.Close() // the stream has ended: the peer's FIN
				}
			}
		})
		s := startRuntime(t, sockrt.Options{}, listenSpec{h: h, opts: actors.ListenOptions{Dispatch: d, Pull: true}})
		c, _ := s.dial(t, 0)
		_, _ = c.Write([]byte("pulled in pieces"))
		_ = c.CloseWrite()
		if got, err := readAll(c); got != "PULLED IN PIECES" || err != nil {
			t.Fatalf("client read %q, %v", got, err)
		}
	})
}

// TestReplyErr checks every reply's Err: nil for code 0 and for a nil
// reply, else an error that matches the winsock name and the syscall twin.
func TestReplyErr(t *testing.T) {
	const code = uint32(winsock.WSAEWOULDBLOCK)
	type errer interface{ Err() error }
	replies := []struct{ ok, bad, nilReply errer }{
		{&actors.SendResult{}, &actors.SendResult{Code: code}, (*actors.SendResult)(nil)},
		{&actors.RecvResult{}, &actors.RecvResult{Code: code}, (*actors.RecvResult)(nil)},
		{&actors.RecvDisconnectResult{}, &actors.RecvDisconnectResult{Code: code}, (*actors.RecvDisconnectResult)(nil)},
		{&actors.SendDisconnectResult{}, &actors.SendDisconnectResult{Code: code}, (*actors.SendDisconnectResult)(nil)},
		{&actors.CloseResult{}, &actors.CloseResult{Code: code}, (*actors.CloseResult)(nil)},
		{&actors.SubscribeResult{}, &actors.SubscribeResult{Code: code}, (*actors.SubscribeResult)(nil)},
		{&actors.SocketInfo{}, &actors.SocketInfo{Code: code, Socket: 7}, (*actors.SocketInfo)(nil)},
		{&actors.ConnectResult{}, &actors.ConnectResult{Code: code, Detail: "why"}, (*actors.ConnectResult)(nil)},
		{&actors.Error{}, &actors.Error{Code: code, Detail: "why"}, (*actors.Error)(nil)},
		{&actors.SuspendReadingResult{}, &actors.SuspendReadingResult{Code: code, Detail: "why"}, (*actors.SuspendReadingResult)(nil)},
		{&actors.ResumeReadingResult{}, &actors.ResumeReadingResult{Code: code, Detail: "why"}, (*actors.ResumeReadingResult)(nil)},
	}
	for _, r := range replies {
		name := strings.TrimPrefix(typeName(r.ok), "*actors.")
		if err := r.ok.Err(); err != nil {
			t.Errorf("%s{Code: 0}.Err() = %v", name, err)
		}
		if err := r.nilReply.Err(); err != nil {
			t.Errorf("nil %s .Err() = %v", name, err)
		}
		err := r.bad.Err()
		if !errors.Is(err, winsock.ErrWouldBlock) || !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Errorf("%s{Code: %d}.Err() = %v: does not match ErrWouldBlock and EWOULDBLOCK", name, code, err)
		}
		if got := winsock.CodeOf(err, 0); got != winsock.WSAEWOULDBLOCK {
			t.Errorf("%s: CodeOf = %v", name, got)
		}
	}
	var oe *winsock.OpError
	if err := (&actors.SocketInfo{Code: code, Socket: 7}).Err(); !errors.As(err, &oe) || oe.Socket != 7 || oe.Op != "Info" {
		t.Errorf("SocketInfo.Err() = %#v, want an OpError naming Info and socket 7", err)
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
