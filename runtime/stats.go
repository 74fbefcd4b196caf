package runtime

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// String formats the counters on one line, for logs and a quick look:
//
//	sockets open=2 accepted=4 refused=0 sends_refused=0 closed[local-close=2 peer-close=1 peer-reset=1] | conns open=2 half_open=0 send_dropped=0 | limits max_conns=0 max_inbound=0 send_high_water=0 max_send=0 | events delivered=8 dropped=0 remote_dropped=0 seq=12 | remote address=nonhost endpoints_lost=0 refused=0
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
	fmt.Fprintf(&b, " | events delivered=%d dropped=%d remote_dropped=%d seq=%d",
		s.Events.Delivered, s.Events.Dropped, s.Events.RemoteDropped, s.Events.Seq)
	fmt.Fprintf(&b, " | remote address=%s endpoints_lost=%d refused=%d",
		s.Remote.Address, s.Remote.EndpointsLost, s.Remote.Refused)
	return b.String()
}

// MarshalJSON encodes the counters with snake_case keys:
//
//	{"sockets":{"open":2,"accepted":4,"closed":{"peer-close":1},...},
//	 "conns":{"open":2,"limit_hits":0,...},
//	 "events":{"delivered":8,"dropped":0,"remote_dropped":0,"seq":12},
//	 "remote":{"address":"nonhost","endpoints_lost":0,"refused":0},
//	 "limit_hits":{"max_conns":0,"max_inbound":0,"send_high_water":0,"max_send":0}}
//
// It only reads s: safe for concurrent use.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Sockets   actors.HostStats  `json:"sockets"`
		Conns     netio.EngineStats `json:"conns"`
		Events    events.HubStats   `json:"events"`
		Remote    RemoteStats       `json:"remote"`
		LimitHits map[string]uint64 `json:"limit_hits"`
	}{s.Sockets, s.Conns, s.Events, s.Remote, s.LimitHits()})
}
