package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// Turns: a case whose servers differ by a few per cent (the protocol, TLS
// echo and TLS handshake bars) is measured with the servers of a round running side by
// side, taking turns under load: each server's window is cut into
// caseSpec.turns windows of the configured length, served in alternating
// order (A B C, C B A, ...). This machine's loopback drifts between two
// levels for seconds at a time; back-to-back windows of one server each
// would give one server the slow level and the next the fast one, and the
// round's ratio would be the drift's. Taking short turns spreads both
// levels over every server. A server waiting for its turn is idle: its
// loops sleep in epoll_wait and cost no CPU.
//
// A round's figures are the turns' totals: messages and mismatches
// summed, CPU per message over all messages, rates and cores over all
// windows, and any other figure (the latency percentiles) the median of
// the turns' (so are the handshake case's rate, CPU per handshake and
// cores: its turns count no messages to weigh by).

// closeTurns is the turns of the cases whose bars are a few per cent
// wide: the protocol scenarios, TLS echo and TLS handshakes.
const closeTurns = 4

// minTurn is the shortest turn: a window that still holds thousands of
// requests at depth 1 and whose CPU the clock reads to a fraction of a
// per cent.
const minTurn = 500 * time.Millisecond

// turnWindow is one turn's window for a suite whose windows are d: d
// shared among the turns (a server is measured for d per round, as in the
// cases without turns), but not under minTurn.
func turnWindow(d time.Duration) time.Duration { return max(d/closeTurns, minTurn) }

// turnsNote is the note of a case measured in turns.
func turnsNote(turns int, window time.Duration) string {
	return fmt.Sprintf("each round runs its servers side by side and gives each %d turns of %v under load, in alternating order, so that the machine's drift falls on every server alike; a round's figures are the turns' totals (CPU per message over all messages; latency percentiles the median of the turns')", turns, window)
}

// turnServer is one server of a round measured in turns.
type turnServer struct {
	i      int // index in the case's servers and results
	sp     *serverProc
	parts  []loadgen.Result
	failed bool
}

// runTurnsRound runs one round of a case measured in turns (cs.turns > 1)
// and records each server's merged figures in sc. It returns an error only
// when ctx ends.
func (h *harness) runTurnsRound(ctx context.Context, cs caseSpec, sc *report.Scenario, round int, progress func(srv string, turn int)) error {
	var live []*turnServer
	roundErr := func(i int, err error) {
		sc.Results[i].Errors = append(sc.Results[i].Errors, fmt.Sprintf("round %d: %v", round+1, err))
	}
	stopped := false
	stopAll := func() {
		stopped = true
		for _, t := range live {
			select {
			case <-t.sp.done: // died under load: reaped by diedUnder
				continue
			default:
			}
			if err := t.sp.stop(10 * time.Second); err != nil {
				roundErr(t.i, fmt.Errorf("server %s did not stop cleanly: %v (%s)", cs.servers[t.i], err, t.sp.describeExit()))
			}
		}
	}
	defer func() {
		if !stopped {
			stopAll()
		}
	}()
	for i, srv := range cs.servers {
		if sc.Results[i].Unavailable != "" {
			continue
		}
		sp, err := h.startServerWith(ctx, srv, cs.network, cs.notify, cs.serverArgs, h.serverProcs(cs))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ue := (*unavailableError)(nil); errors.As(err, &ue) {
				sc.Results[i].Unavailable = ue.reason
			} else {
				roundErr(i, err)
			}
			continue
		}
		live = append(live, &turnServer{i: i, sp: sp})
	}
	order := slices.Clone(live)
	for turn := range cs.turns {
		for _, t := range order {
			if t.failed {
				continue
			}
			srv := cs.servers[t.i]
			progress(srv, turn)
			res, err := h.runLoadgen(ctx, h.loadgenArgs(cs, t.sp), cs.timeout)
			// A server that died under load is a result too.
			err = errors.Join(err, t.sp.diedUnder(srv))
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				t.failed = true
				roundErr(t.i, fmt.Errorf("turn %d: %w", turn+1, err))
				continue
			}
			t.parts = append(t.parts, res)
		}
		slices.Reverse(order)
	}
	stopAll()
	for _, t := range live {
		if t.failed {
			continue
		}
		merged := mergeTurns(t.parts)
		sc.Results[t.i].Rounds[round] = merged.Metrics
		for _, e := range merged.Errors {
			roundErr(t.i, errors.New(e))
		}
	}
	return nil
}

// mergeTurns combines the results of one server's turns into the round's
// result (see the file's comment).
func mergeTurns(parts []loadgen.Result) loadgen.Result {
	out := loadgen.Result{Metrics: map[string]float64{}}
	var msgs, window float64
	windows := make([]float64, len(parts))
	for i, p := range parts {
		out.Scenario = p.Scenario
		out.Errors = append(out.Errors, p.Errors...)
		m := p.Metrics
		msgs += m[loadgen.MetricMsgs]
		if r := m[loadgen.MetricMsgsPerSec]; r > 0 {
			windows[i] = m[loadgen.MetricMsgs] / r
		}
		window += windows[i]
	}
	keys := map[string]bool{}
	for _, p := range parts {
		for k := range p.Metrics {
			keys[k] = true
		}
	}
	for k := range keys {
		var v float64
		switch k {
		case loadgen.MetricMsgs, loadgen.MetricMismatches:
			for _, p := range parts {
				v += p.Metrics[k]
			}
		case loadgen.MetricCPUPerMsg:
			v = weighted(parts, k, func(i int) float64 { return parts[i].Metrics[loadgen.MetricMsgs] }, msgs)
		case loadgen.MetricMsgsPerSec, loadgen.MetricMBPerSec, loadgen.MetricServerCores:
			if window > 0 {
				v = weighted(parts, k, func(i int) float64 { return windows[i] }, window)
			} else {
				v = medianOf(parts, k) // turns that count no messages (TLS handshakes)
			}
		case loadgen.MetricConns:
			v = parts[0].Metrics[k]
			for _, p := range parts {
				v = min(v, p.Metrics[k])
			}
		default:
			v = medianOf(parts, k)
		}
		out.Metrics[k] = v
	}
	return out
}

// medianOf is the median of key over the parts that have it.
func medianOf(parts []loadgen.Result, key string) float64 {
	var vs []float64
	for _, p := range parts {
		if x, ok := p.Metrics[key]; ok {
			vs = append(vs, x)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	v := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		v = (vs[len(vs)/2-1] + v) / 2
	}
	return v
}

// weighted is the mean of key over parts with weight w(i), whose sum is
// total; 0 when total is.
func weighted(parts []loadgen.Result, key string, w func(i int) float64, total float64) float64 {
	if total <= 0 {
		return 0
	}
	var s float64
	for i, p := range parts {
		s += p.Metrics[key] * w(i)
	}
	return s / total
}
