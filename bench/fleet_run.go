package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/stats"
	"github.com/sockactor/sockactor/bench/servers"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/fleet"
)

// fleetParams are the settings of one fleet round.
type fleetParams struct {
	ttl    time.Duration // the gateways' lease TTL
	closes int           // FD_CLOSE latencies to measure
}

// The fleet round's bounds.
const (
	// fleetStartWait bounds the start of each child and the watcher's
	// first snapshots of both gateways.
	fleetStartWait = 30 * time.Second
	// fleetEventWait bounds the wait for one FD_ACCEPT or FD_CLOSE at
	// the watcher: an FD_CLOSE not seen by then is lost.
	fleetEventWait = 2 * time.Second
	// fleetMaxLost ends the close phase early: the watcher is not
	// following.
	fleetMaxLost = 10
	// fleetStopGrace is each child's time to exit after SIGTERM.
	fleetStopGrace = 10 * time.Second
	// etcdExpiryTick is how often etcd's lessor looks for expired leases:
	// a LEAVE comes on one of its ticks.
	etcdExpiryTick = 500 * time.Millisecond
)

// randomPhase pauses for a random part of etcdExpiryTick: a gateway killed
// or stopped right after the previous LEAVE (itself on a tick) would
// always meet the expiry check at the same phase, and its LEAVE would
// measure that phase rather than the detection.
func randomPhase(ctx context.Context) error {
	if !sleepCtx(ctx, rand.N(etcdExpiryTick)) {
		return ctx.Err()
	}
	return nil
}

// closeBudget bounds the close phase: 10 s and 20 ms a close (each takes
// about 2 ms on loopback).
func (p fleetParams) closeBudget() time.Duration {
	return 10*time.Second + time.Duration(p.closes)*20*time.Millisecond
}

// detectWait bounds each membership wait: the TTL, etcd's 500 ms expiry
// check, and a wide margin (the target judges the figure, not this).
func (p fleetParams) detectWait() time.Duration { return p.ttl + 5*time.Second }

// timeout bounds one round: the starts, the close phase, the three
// membership waits, and the stops.
func (p fleetParams) timeout() time.Duration {
	return 4*fleetStartWait + p.closeBudget() + 3*p.detectWait() + 4*fleetStopGrace
}

// fleetFeed reads the fleet watcher's lines.
type fleetFeed struct {
	c    *child
	tail []string // the last lines read, for the errors
}

// wait returns the first line read within timeout that match accepts,
// skipping the others.
func (f *fleetFeed) wait(ctx context.Context, timeout time.Duration, what string, match func(fleetLine) bool) (fleetLine, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s, ok := <-f.c.stdout.lines:
			if !ok {
				return fleetLine{}, fmt.Errorf("the watcher ended before %s: %s", what, f.c.describeExit())
			}
			var l fleetLine
			if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &l) != nil {
				continue
			}
			if f.tail = append(f.tail, strings.TrimSpace(l.Kind+" "+l.Event)); len(f.tail) > 8 {
				f.tail = f.tail[1:]
			}
			if match(l) {
				return l, nil
			}
		case <-t.C:
			return fleetLine{}, fmt.Errorf("no %s at the watcher within %v (its last lines: %s)", what, timeout, strings.Join(f.tail, ", "))
		case <-ctx.Done():
			return fleetLine{}, ctx.Err()
		}
	}
}

// member matches the watcher's membership line kind for gateway gw.
func member(gw string, kinds ...fleet.Kind) func(fleetLine) bool {
	return func(l fleetLine) bool {
		for _, k := range kinds {
			if l.Gateway == gw && l.Kind == k.String() {
				return true
			}
		}
		return false
	}
}

// socketEvent matches the watcher's event of kind k of gateway gw's socket
// whose peer is remote.
func socketEvent(gw string, k events.Kind, remote string) func(fleetLine) bool {
	return func(l fleetLine) bool {
		return l.Gateway == gw && l.Kind == fleet.Event.String() && l.Event == k.String() && l.Remote == remote
	}
}

// since returns the milliseconds from t to the watcher's line.
func since(t time.Time, l fleetLine) float64 { return float64(l.T-t.UnixNano()) / 1e6 }

// fleetKid is a child of a fleet round and what the errors call it.
type fleetKid struct {
	name string
	c    *child
}

// fleetKids are the children of one fleet round.
type fleetKids struct {
	etcd, watcher *fleetKid
	gateways      []*fleetKid
	paused        *child // a gateway stopped by SIGSTOP, if any
	killed        *child // the gateway killed on purpose
}

// stop resumes a paused gateway and stops every child, each within
// fleetStopGrace: the gateways, then the watcher, then etcd (a gateway
// stopped after its watcher's node is gone can take seconds in
// protoactor's reconnects). An unclean stop, or a child that ended by
// itself, is an error of res.
func (k *fleetKids) stop(res *loadgen.Result) {
	if k.paused != nil {
		_ = syscall.Kill(-k.paused.pid(), syscall.SIGCONT)
		k.paused = nil
	}
	for _, kid := range append(slices.Clone(k.gateways), k.watcher, k.etcd) {
		if kid == nil {
			continue // not started
		}
		c := kid.c
		if c == k.killed {
			select { // reaped by its Wait, its pipes closed
			case <-c.done:
			case <-time.After(fleetStopGrace):
				res.Errors = append(res.Errors, kid.name+" still there "+fleetStopGrace.String()+" after SIGKILL")
			}
			continue
		}
		select {
		case <-c.done:
			res.Errors = append(res.Errors, fmt.Sprintf("%s ended during the round: %s", kid.name, c.describeExit()))
			continue
		default:
		}
		if err := c.stop(fleetStopGrace); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s did not stop cleanly: %v (%s)", kid.name, err, c.describeExit()))
		}
	}
}

// fleetRound runs one round of the fleet case with gateways of server srv.
// Failures to start are its error; a phase that fails is an error of the
// result, which keeps the other phases' figures. Every child it started
// is stopped when it returns.
func (h *harness) fleetRound(ctx context.Context, srv string, p fleetParams) (res loadgen.Result, err error) {
	res = loadgen.Result{Scenario: kindFleet, Metrics: map[string]float64{}}
	dir, err := os.MkdirTemp("", "sockactor-bench-etcd-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	k := &fleetKids{}
	defer k.stop(&res)

	etcd, err := h.children.startChild(ctx, h.exe, []string{"-role", "etcd", "-dir", dir})
	if err != nil {
		return res, fmt.Errorf("start etcd: %w", err)
	}
	k.etcd = &fleetKid{"etcd", etcd}
	ep, err := etcd.stdout.waitPrefix(ctx, "etcd ", fleetStartWait)
	if err != nil {
		return res, fmt.Errorf("etcd: %w (%s)", err, etcd.describeExit())
	}
	args := []string{"-remote", "127.0.0.1:0", "-etcd", ep, "-fleet-ttl", p.ttl.String()}
	var gws []*serverProc
	for i := range 2 {
		g, err := h.startServerWith(ctx, srv, servers.NetTCP, false, args, h.cfg.serverProcs)
		if err != nil {
			return res, fmt.Errorf("gateway: %w", err)
		}
		k.gateways = append(k.gateways, &fleetKid{fmt.Sprintf("gateway %c (%s)", 'a'+i, srv), g.child})
		gws = append(gws, g)
	}
	a, b := gws[0], gws[1]
	watcher, err := h.children.startChild(ctx, h.exe, []string{"-role", "fleetwatch", "-etcd", ep})
	if err != nil {
		return res, fmt.Errorf("start the watcher: %w", err)
	}
	k.watcher = &fleetKid{"watcher", watcher}
	feed := &fleetFeed{c: watcher}
	incarnation := map[string]string{}
	deadline := time.Now().Add(fleetStartWait)
	for incarnation[a.remote] == "" || incarnation[b.remote] == "" {
		l, err := feed.wait(ctx, time.Until(deadline), "SNAPSHOT of both gateways", func(l fleetLine) bool {
			return l.Kind == fleet.Snapshot.String() && (l.Gateway == a.remote || l.Gateway == b.remote)
		})
		if err != nil {
			return res, err
		}
		incarnation[l.Gateway] = l.Incarnation
	}

	if err := fleetCloses(ctx, feed, a, p, &res); err != nil {
		res.Errors = append(res.Errors, "closes: "+err.Error())
	}
	// A connection b keeps through its hang: the snapshot after SIGCONT
	// must hold it.
	held, err := fleetDial(ctx, feed, b)
	if err != nil {
		return res, err
	}
	defer held.Close()
	if err := fleetKill(ctx, feed, k, a, p, &res); err != nil {
		res.Errors = append(res.Errors, "kill -9: "+err.Error())
	}
	if err := fleetHang(ctx, feed, k, b, incarnation[b.remote], p, &res); err != nil {
		res.Errors = append(res.Errors, "SIGSTOP/SIGCONT: "+err.Error())
	}
	return res, ctx.Err()
}

// fleetDial opens a connection to gateway g and waits for the watcher's
// FD_ACCEPT of it.
func fleetDial(ctx context.Context, feed *fleetFeed, g *serverProc) (net.Conn, error) {
	d := net.Dialer{Timeout: fleetEventWait}
	c, err := d.DialContext(ctx, "tcp", g.addr)
	if err != nil {
		return nil, err
	}
	local := c.LocalAddr().String()
	if _, err := feed.wait(ctx, fleetEventWait, "FD_ACCEPT of "+local, socketEvent(g.remote, events.FDAccept, local)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// fleetCloses measures p.closes FD_CLOSE latencies at gateway g, one
// connection at a time, within p.closeBudget.
func fleetCloses(ctx context.Context, feed *fleetFeed, g *serverProc, p fleetParams, res *loadgen.Result) error {
	deadline := time.Now().Add(p.closeBudget())
	var lat []float64
	lost := 0
	defer func() {
		res.Metrics[metricFleetCloses] = float64(len(lat))
		res.Metrics[metricFleetCloseLost] = float64(lost)
		if len(lat) == 0 {
			return
		}
		for key, pc := range map[string]float64{metricFleetCloseP50: 50, metricFleetCloseP99: 99, metricFleetCloseMax: 100} {
			res.Metrics[key], _ = stats.Percentile(lat, pc)
		}
	}()
	for range p.closes {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d closes measured within %v", len(lat), p.closes, p.closeBudget())
		}
		c, err := fleetDial(ctx, feed, g)
		if err != nil {
			return err
		}
		local := c.LocalAddr().String()
		start := time.Now()
		_ = c.Close()
		l, err := feed.wait(ctx, fleetEventWait, "FD_CLOSE of "+local, socketEvent(g.remote, events.FDClose, local))
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			if lost++; lost >= fleetMaxLost {
				return fmt.Errorf("%d FD_CLOSEs lost: %w", lost, err)
			}
			continue
		}
		lat = append(lat, float64(l.T-start.UnixNano())/1e3)
	}
	return nil
}

// fleetKill kills gateway g (SIGKILL to its process group), at a random
// phase of etcd's expiry check, and times the watcher's LOST and LEAVE of
// it.
func fleetKill(ctx context.Context, feed *fleetFeed, k *fleetKids, g *serverProc, p fleetParams, res *loadgen.Result) error {
	if err := randomPhase(ctx); err != nil {
		return err
	}
	start := time.Now()
	k.killed = g.child
	g.kill()
	l, err := feed.wait(ctx, p.detectWait(), "LOST or LEAVE of "+g.remote, member(g.remote, fleet.Lost, fleet.Leave))
	if err != nil {
		return err
	}
	if l.Kind == fleet.Lost.String() {
		res.Metrics[metricFleetKillLost] = since(start, l)
		if l, err = feed.wait(ctx, p.detectWait()-time.Since(start), "LEAVE of "+g.remote, member(g.remote, fleet.Leave)); err != nil {
			return err
		}
	} else {
		res.Errors = append(res.Errors, "kill -9: no LOST before the LEAVE")
	}
	res.Metrics[metricFleetKillLeave] = since(start, l)
	return nil
}

// fleetHang stops gateway g (SIGSTOP), at a random phase of etcd's expiry
// check, until the watcher's LEAVE of it,
// resumes it (SIGCONT) and times its JOIN and SNAPSHOT, which must be of
// the same incarnation and hold the one connection the round keeps open.
func fleetHang(ctx context.Context, feed *fleetFeed, k *fleetKids, g *serverProc, incarnation string, p fleetParams, res *loadgen.Result) error {
	if err := randomPhase(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := syscall.Kill(-g.pid(), syscall.SIGSTOP); err != nil {
		return err
	}
	k.paused = g.child
	l, err := feed.wait(ctx, p.detectWait(), "LEAVE of "+g.remote, member(g.remote, fleet.Leave))
	if err != nil {
		return err
	}
	res.Metrics[metricFleetStopLeave] = since(start, l)
	start = time.Now()
	if err := syscall.Kill(-g.pid(), syscall.SIGCONT); err != nil {
		return err
	}
	k.paused = nil
	if l, err = feed.wait(ctx, p.detectWait(), "JOIN of "+g.remote, member(g.remote, fleet.Join)); err != nil {
		return err
	}
	res.Metrics[metricFleetContJoin] = since(start, l)
	if l, err = feed.wait(ctx, p.detectWait(), "SNAPSHOT of "+g.remote, member(g.remote, fleet.Snapshot)); err != nil {
		return err
	}
	res.Metrics[metricFleetContFollow] = since(start, l)
	var errs []error
	if l.Incarnation != incarnation {
		errs = append(errs, fmt.Errorf("followed again as incarnation %q, want %q", l.Incarnation, incarnation))
	}
	if l.Sockets != 1 {
		errs = append(errs, fmt.Errorf("the snapshot after SIGCONT holds %d sockets, want the 1 held open", l.Sockets))
	}
	return errors.Join(errs...)
}
