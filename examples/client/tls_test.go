package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"strings"
	"testing"

	"github.com/sockactor/sockactor/internal/tlsdemo"
)

// Over tls:// the client pins the server's certificate by fingerprint,
// half-closes with close_notify (the server reads EOF), and prints the
// server's last words; a wrong pin is refused.
func TestClientTLSPinned(t *testing.T) {
	cert, err := tlsdemo.SelfSigned("client test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	addr, how := upperServe(t, ln)
	var out, errOut bytes.Buffer
	args := []string{"-addr", "tls://" + addr, "-fingerprint", tlsdemo.Fingerprint(cert), "-send", "secret"}
	if err := run(context.Background(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, errOut.String())
	}
	if out.String() != "SECRET\nbye\n" || how() != "fin" || !strings.HasPrefix(errOut.String(), "tls TLS 1.3 ") {
		t.Fatalf("stdout %q, server saw %q, stderr %q", out.String(), how(), errOut.String())
	}
	ln2, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ = upperServe(t, ln2)
	wrong := strings.Repeat("00:", 31) + "00"
	err = run(context.Background(), []string{"-addr", "tls://" + addr, "-fingerprint", wrong, "-send", "x"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not the pinned one") {
		t.Fatalf("wrong pin: %v", err)
	}
}
