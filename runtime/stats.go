package runtime

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/netio"
)

// String formats the counters on one line, for logs and a quick look:
//
//	sockets open=2 accepted=4 refused=0 sends_refused=0 closed[local-close=2 peer-close=1 peer-reset=1] | conns open=2 half_open=0 send_dropped=0 | limits max_conns=0 max_inbound=0 send_high_water=0 max_send=0 | events delivered=8 dropped=0
//
// Reasons appear in sorted order, only those that occurred. It only reads
// s: safe for concurrent use.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sockets open=%d accepted=%d refused=%d sends_refused=%d closed[",
		s.Sockets.Open, s.Sockets.Accepted, s.Sockets.Refused, s.Sockets.SendsRefused)
	reasons := make([]string, 0, len(s.Sockets.Closed))
	for r := range s.Sockets.Closed {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for i, r := range reasons {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", r, s.Sockets.Closed[r])
	}
	fmt.Fprintf(&b, "] | conns open=%d half_open=%d send_dropped=%d | limits", s.Conns.Open, s.Conns.HalfOpen, s.Conns.SendDropped)
	hits := s.LimitHits()
	for _, name := range limitNames {
		fmt.Fprintf(&b, " %s=%d", name, hits[name])
	}
	fmt.Fprintf(&b, " | events delivered=%d dropped=%d", s.Events.Delivered, s.Events.Dropped)
	return b.String()
}

// MarshalJSON encodes the counters with snake_case keys:
//
//	{"sockets":{"open":2,"accepted":4,"closed":{"peer-close":1},...},
//	 "conns":{"open":2,"limit_hits":0,...},
//	 "events":{"delivered":8,"dropped":0},
//	 "limit_hits":{"max_conns":0,"max_inbound":0,"send_high_water":0,"max_send":0}}
//
// It only reads s: safe for concurrent use.
func (s Stats) MarshalJSON() ([]byte, error) {
	type hub struct {
		Delivered uint64 `json:"delivered"`
		Dropped   uint64 `json:"dropped"`
	}
	return json.Marshal(struct {
		Sockets   actors.HostStats  `json:"sockets"`
		Conns     netio.EngineStats `json:"conns"`
		Events    hub               `json:"events"`
		LimitHits map[string]uint64 `json:"limit_hits"`
	}{s.Sockets, s.Conns, hub{s.Events.Delivered, s.Events.Dropped}, s.LimitHits()})
}
