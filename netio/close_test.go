package netio

import (
	"errors"
	"io"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/winsock"
)

func TestEnginePeerClose(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	write(t, cl, "last words")
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
	// Data sent before the FIN is delivered before OnClose.
	if got := h.dataOf(c); got != "last words" {
		t.Errorf("OnData got %q before peer-close", got)
	}
}

func TestEnginePeerReset(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	if err := cl.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerReset)
}

func TestEngineLocalClose(t *testing.T) {
	tests := []struct {
		reason Reason
		reset  bool // the client sees ECONNRESET, else queued data then EOF
	}{
		{ReasonLocalAbort, true},
		{ReasonLocalClose, false},
		{ReasonTimeout, true},
		{ReasonLimit, true},
	}
	for _, tc := range tests {
		t.Run(tc.reason.String(), func(t *testing.T) {
			h := newTestHandler(t)
			_, lns := startEngine(t, h, "127.0.0.1:0")
			cl := dial(t, lns[0])
			c := h.waitOpen(t)
			onLoop(t, c, func() {
				if !tc.reset {
					_, _ = c.Write([]byte("bye"))
				}
				c.Close(tc.reason)
				c.Close(ReasonLocalAbort) // idempotent: no second OnClose, reason kept
			})
			if r, ok := h.reasonOf(c); !ok || r != tc.reason {
				t.Fatalf("OnClose = %v, %v; want %v before Close returned", r, ok, tc.reason)
			}
			got, err := readUntilErr(t, cl)
			if tc.reset {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("client read: %v, want ECONNRESET", err)
				}
			} else if err != io.EOF || string(got) != "bye" {
				t.Fatalf("client read %q, %v; want \"bye\", EOF", got, err)
			}
		})
	}
}

// TestEngineCloseFromOnData: a Close asked inside OnData happens as OnData
// returns.
func TestEngineCloseFromOnData(t *testing.T) {
	h := newTestHandler(t)
	h.onData = func(c *Conn, data []byte) {
		if string(data) == "abort" {
			c.Close(ReasonLocalAbort)
			if c.Closed() {
				t.Error("Close inside OnData closed at once")
			}
		}
	}
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	write(t, cl, "abort")
	h.waitClose(t, c, ReasonLocalAbort)
	if _, err := readUntilErr(t, cl); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read: %v, want ECONNRESET", err)
	}
}

func TestEngineShutdownSend(t *testing.T) {
	h := newTestHandler(t)
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)
	onLoop(t, c, func() {
		if _, err := c.Write([]byte("flushed first")); err != nil {
			t.Errorf("Write: %v", err)
		}
		if err := c.ShutdownSend(); err != nil {
			t.Errorf("ShutdownSend: %v", err)
		}
		if err := c.ShutdownSend(); err != nil { // idempotent
			t.Errorf("second ShutdownSend: %v", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, winsock.ErrShutdown) || !errors.Is(err, syscall.ESHUTDOWN) {
			t.Errorf("Write after ShutdownSend: %v, want WSAESHUTDOWN", err)
		}
	})
	got, err := readUntilErr(t, cl)
	if err != io.EOF || string(got) != "flushed first" {
		t.Fatalf("client read %q, %v; want the data then EOF", got, err)
	}
	onLoop(t, c, func() {
		if !c.SendShut() || c.Closed() {
			t.Errorf("SendShut=%v Closed=%v", c.SendShut(), c.Closed())
		}
	})
	// The receive side still works.
	write(t, cl, "after FIN")
	h.waitData(t, c, "after FIN")
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
}
