package main

import (
	"slices"
	"strings"
	"testing"
)

// TestRESPCases: resp is not in the default suite, is in the full one and
// by name, and compares gnet with the sockactor servers in resp mode.
func TestRESPCases(t *testing.T) {
	ids := func(args ...string) []string {
		t.Helper()
		var out []string
		for _, cs := range casesOf(t, kindRESP, args...) {
			out = append(out, cs.scenario.ID)
			if !slices.Equal(cs.servers, []string{"gnet", "sockactor-inline", "sockactor-pooled"}) ||
				!slices.Equal(cs.serverArgs, []string{"-mode", "resp"}) {
				t.Errorf("%s: servers %v, args %v", cs.scenario.ID, cs.servers, cs.serverArgs)
			}
		}
		return out
	}
	if got := ids(); len(got) != 0 {
		t.Errorf("default suite has %v", got)
	}
	if got := strings.Join(ids("-scenarios", "resp"), " "); got != "resp/c64/d1 resp/c64/d16" {
		t.Errorf("-scenarios resp: %s", got)
	}
	if got := strings.Join(ids("-suite", "full"), " "); got != "resp/c64/d1 resp/c64/d16 resp/c1000/d1 resp/c1000/d16" {
		t.Errorf("-suite full: %s", got)
	}
	if got := ids("-scenarios", "resp", "-target", "127.0.0.1:9"); len(got) != 0 {
		t.Errorf("external target: %v", got)
	}
}
