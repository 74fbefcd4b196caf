package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/fleet"
)

// TestGatewayListenCommands: a fleet gateway process opens a listener on
// LISTEN and closes it on UNLISTEN; a watch -etcd process prints a CHANGE
// listing the gateway's listeners after each, the new listener echoes,
// and bad commands get their ERR line.
func TestGatewayListenCommands(t *testing.T) {
	defer goleak.VerifyNone(t, append(etcdLeaks, goleak.IgnoreCurrent())...)
	etcd := startEtcd(t)
	defer func() { _ = etcd.Close() }() // before goleak looks: not a Cleanup
	ep := etcd.Endpoints()[0]
	g := startFleetGateway(t, ep, "127.0.0.1:0", fleetTTL)
	w := startChild(t, "watch", "-etcd", ep, "-remote", "127.0.0.1:0")
	waitKind(t, w, 0, "SNAPSHOT", g.remote)

	// change waits for the watcher's CHANGE of g listing exactly addrs.
	change := func(from int, addrs ...string) {
		t.Helper()
		w.wait(from, "CHANGE to "+strings.Join(addrs, ","), func(l string) bool {
			var c struct {
				Kind      string           `json:"kind"`
				Gateway   string           `json:"gateway"`
				Listeners []fleet.Listener `json:"listeners"`
			}
			if json.Unmarshal([]byte(l), &c) != nil || c.Kind != "CHANGE" || c.Gateway != g.remote || len(c.Listeners) != len(addrs) {
				return false
			}
			for i, a := range addrs {
				if c.Listeners[i].Addr != a {
					return false
				}
			}
			return true
		})
	}

	from, lines := w.count(), g.proc.count()
	g.proc.send("LISTEN 127.0.0.1:0")
	_, l := g.proc.wait(lines, "the LISTEN answer", func(string) bool { return true })
	added, ok := strings.CutPrefix(l, "listening ")
	if !ok {
		t.Fatalf("LISTEN answered %q", l)
	}
	change(from, g.tcp, added)
	c := dialEcho(t, added)
	_ = c.Close()

	from, lines = w.count(), g.proc.count()
	g.proc.send("UNLISTEN " + added)
	if _, l := g.proc.wait(lines, "the UNLISTEN answer", func(string) bool { return true }); l != "closed "+added {
		t.Fatalf("UNLISTEN answered %q", l)
	}
	change(from, g.tcp)

	for cmd, want := range map[string]string{
		"UNLISTEN " + added: "ERR WSAEINVAL 10022 no listener on " + added,
		"BOGUS":             "ERR WSAEINVAL 10022 unknown command",
	} {
		lines = g.proc.count()
		g.proc.send(cmd)
		if _, l := g.proc.wait(lines, "the answer to "+cmd, func(string) bool { return true }); l != want {
			t.Errorf("%s: %q, want %q", cmd, l, want)
		}
	}
	if code := w.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("watch exit code %d", code)
	}
	if code := g.proc.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("gateway exit code %d", code)
	}
}
