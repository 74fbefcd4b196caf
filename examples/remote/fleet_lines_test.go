package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sockactor/sockactor/fleet"
)

// TestFleetChangeLines: watch -etcd prints a CHANGE update as one JSON
// line with the gateway's listeners now, [] when none is left, beside the
// JOIN line's format.
func TestFleetChangeLines(t *testing.T) {
	m := fleet.Member{Address: "127.0.0.1:9000", Incarnation: "inc-1",
		Listeners: []fleet.Listener{{ID: 1, Network: "tcp", Addr: "127.0.0.1:7000"}, {ID: 5, Network: "tcp", Addr: "127.0.0.1:7001"}}}
	var buf bytes.Buffer
	out := &lineWriter{w: &buf}
	printUpdate(out, fleet.Update{Kind: fleet.Join, Gateway: m})
	printUpdate(out, fleet.Update{Kind: fleet.Change, Gateway: m})
	printUpdate(out, fleet.Update{Kind: fleet.Change, Gateway: fleet.Member{Address: m.Address, Incarnation: m.Incarnation}})
	want := []string{
		`{"kind":"JOIN","gateway":"127.0.0.1:9000","incarnation":"inc-1","listeners":[{"id":1,"network":"tcp","addr":"127.0.0.1:7000"},{"id":5,"network":"tcp","addr":"127.0.0.1:7001"}]}`,
		`{"kind":"CHANGE","gateway":"127.0.0.1:9000","incarnation":"inc-1","listeners":[{"id":1,"network":"tcp","addr":"127.0.0.1:7000"},{"id":5,"network":"tcp","addr":"127.0.0.1:7001"}]}`,
		`{"kind":"CHANGE","gateway":"127.0.0.1:9000","incarnation":"inc-1","listeners":[]}`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
