package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"
)

// pyPinnedClient is Python's ssl module as a user's client: it pins the
// demo certificate by its fingerprint, echoes, half-closes with
// close_notify and reads until the server's own close_notify (a ragged
// EOF is an error here). A plaintext client first: the server must refuse
// it and keep serving.
const pyPinnedClient = `
import hashlib, socket, ssl, sys
host, port, fp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = socket.create_connection((host, port))
p.sendall(b"hello in plaintext\n")
p.settimeout(10)
try:
    print("plaintext", len(p.recv(100)))
except (ConnectionResetError, socket.timeout) as e:
    print("plaintext", type(e).__name__)
p.close()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((host, port)), suppress_ragged_eofs=False)
s.settimeout(10)
der = s.getpeercert(binary_form=True)
got = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
print("pinned", got == fp)
s.sendall(b"hello over tls")
data = b""
while len(data) < 14:
    data += s.recv(100)
print("echo", data.decode())
s = s.unwrap()  # our close_notify; the echo handler answers with its own, then FIN
rest = s.recv(100)
print("after-unwrap", len(rest))
`

// TestEchoTLSPython is the "done when": Python's ssl client gets
// its echo and a clean close_notify from -listen tls://127.0.0.1:0 in both
// modes, and a plaintext client is refused without hurting the server.
func TestEchoTLSPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	for _, d := range []string{"inline", "pooled"} {
		t.Run(d, func(t *testing.T) {
			out, errOut := socktest.NewLines(), socktest.NewLines()
			cmd := socktest.StartCommand(t, withStderr(errOut), []string{"-listen", "tls://127.0.0.1:0", "-dispatch", d, "-loops", "1"}, out)
			fpLine := errOut.WaitLine(t, "fingerprint", func(l string) bool { return strings.HasPrefix(l, "tls certificate sha256 ") })
			fp := strings.Fields(fpLine)[3]
			host, port, _ := strings.Cut(cmd.Addr, ":")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := exec.CommandContext(ctx, py, "-c", pyPinnedClient, host, port, fp).CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, res)
			}
			got := strings.Split(strings.TrimSpace(string(res)), "\n")
			want := []string{"pinned True", "echo hello over tls", "after-unwrap 0"}
			if len(got) != 4 || (got[0] != "plaintext 0" && got[0] != "plaintext ConnectionResetError") || strings.Join(got[1:], "|") != strings.Join(want, "|") {
				t.Fatalf("python saw %q", got)
			}
			cmd.Stop(t)
		})
	}
}

// The demo certificate's fingerprint is printed as openssl prints one.
func TestEchoTLSFingerprint(t *testing.T) {
	out, errOut := socktest.NewLines(), socktest.NewLines()
	cmd := socktest.StartCommand(t, withStderr(errOut), []string{"-listen", "tls://127.0.0.1:0", "-loops", "1"}, out)
	fpLine := errOut.WaitLine(t, "fingerprint", func(l string) bool { return strings.HasPrefix(l, "tls certificate sha256 ") })
	if !strings.Contains(fpLine, ":") || len(strings.Fields(fpLine)[3]) != 95 {
		t.Fatalf("fingerprint line %q", fpLine)
	}
	cmd.Stop(t)
}
