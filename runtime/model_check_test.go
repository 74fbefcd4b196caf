package runtime_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sockactor/sockactor/events"
)

// checkEvents compares what the subscribers got with the model, once the
// socket is released (so no further event can come).
func (r *seqRun) checkEvents() []*divergence {
	sys := r.h.rt.System()
	r.op++
	r.cur = r.m.String()
	var out []*divergence
	if !r.h.rec.barrier(sys) {
		return []*divergence{r.div("events", "recorder barrier", "timeout", "")}
	}
	got := r.h.rec.of(r.id)
	want := r.m.events
	if *modelV {
		fmt.Printf("seed %d: %s\n  events want %s\n  events got  %s\n", r.seed, strings.Join(r.hist, " | "), evList(want), evList(got))
	}
	detail := fmt.Sprintf("want %s got %s", evList(want), evList(got))
	if len(got) == 0 || !got[0].same(want[0]) {
		out = append(out, r.div("events: first", want[0].String(), firstOr(got, 0), detail))
		return out
	}
	restGot, restWant := got[1:], want[2:]
	if len(restGot) > 0 && restGot[0].kind == events.FDWrite {
		restGot = restGot[1:]
	} else {
		out = append(out, r.div("events: FD_WRITE after FD_ACCEPT", "FD_WRITE", firstOr(restGot, 0), detail))
	}
	if d := r.cmpEvents("events", restWant, restGot, detail); d != nil {
		out = append(out, d)
	}
	if d := r.checkClose("events", got); d != nil {
		out = append(out, d)
	}
	for i, s := range r.m.subs {
		if !s.rec.barrier(sys) {
			out = append(out, r.div("subscriber events", "barrier", "timeout", ""))
			continue
		}
		sg := s.rec.of(r.id)
		name := fmt.Sprintf("subscriber events (subscribed as #%d)", i+1)
		sd := fmt.Sprintf("want %s got %s", evList(s.want), evList(sg))
		if d := r.cmpEvents("subscriber events", s.want, sg, name+": "+sd); d != nil {
			out = append(out, d)
		}
		if d := r.checkClose("subscriber events", sg); d != nil {
			out = append(out, d)
		}
	}
	if !r.m.pull {
		if g := r.h.log.got(r.id); !bytes.Equal(g, r.m.delivered) {
			out = append(out, r.div("handler bytes", fmt.Sprintf("%d bytes", len(r.m.delivered)), fmt.Sprintf("%d bytes", len(g)), ""))
		}
	}
	return out
}

func firstOr(l []ev, i int) string {
	if i < len(l) {
		return l[i].String()
	}
	return "none"
}

func (r *seqRun) cmpEvents(name string, want, got []ev, detail string) *divergence {
	i, j, ok := matchEvents(want, got)
	if ok {
		return nil
	}
	return r.div(name, "…"+firstOr(want, i), firstOr(got, j), fmt.Sprintf("at #%d: %s", j, detail))
}

// matchEvents reports whether got matches want, where an entry of want
// marked many matches any number of events of its kind. When it does not,
// i and j are where the longest matching prefix of got ends (the want
// entry expected there, the got entry found).
func matchEvents(want, got []ev) (i, j int, ok bool) {
	// reach[a][b]: want[:a] can match got[:b].
	reach := make([][]bool, len(want)+1)
	for a := range reach {
		reach[a] = make([]bool, len(got)+1)
	}
	reach[0][0] = true
	for a := 0; a <= len(want); a++ {
		for b := 0; b <= len(got); b++ {
			if !reach[a][b] {
				continue
			}
			if a < len(want) && want[a].many {
				reach[a+1][b] = true // none (more) of it
				if b < len(got) && got[b].kind == want[a].kind {
					reach[a][b+1] = true // one more of it
				}
			}
			if a < len(want) && !want[a].many && b < len(got) && want[a].same(got[b]) {
				reach[a+1][b+1] = true
			}
		}
	}
	if reach[len(want)][len(got)] {
		return 0, 0, true
	}
	for b := len(got); b >= 0; b-- {
		for a := len(want); a >= 0; a-- {
			if reach[a][b] {
				return a, b, false
			}
		}
	}
	return 0, 0, false
}

// checkClose: FD_CLOSE exactly once and last (§4).
func (r *seqRun) checkClose(name string, got []ev) *divergence {
	n := 0
	for _, e := range got {
		if e.kind == events.FDClose {
			n++
		}
	}
	if n != 1 || got[len(got)-1].kind != events.FDClose {
		return r.div(name+": FD_CLOSE once and last", "1, last", fmt.Sprintf("%d, last %s", n, firstOr(got, len(got)-1)), evList(got))
	}
	return nil
}
