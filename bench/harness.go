package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// harness runs the scenarios: it starts every server and load generator as
// a child process of its own binary.
type harness struct {
	cfg      config
	exe      string
	children children
	progress *progress
	stderr   io.Writer

	// sockDir holds the unix sockets of the unix scenarios, made on first
	// use and removed by cleanup.
	sockDir string
	sockN   int
}

// cleanup removes what the harness made on disk.
func (h *harness) cleanup() {
	if h.sockDir != "" {
		_ = os.RemoveAll(h.sockDir)
		h.sockDir = ""
	}
}

// listenAddr returns the address a server child of network listens on:
// 127.0.0.1:0, or a fresh socket path for unix.
func (h *harness) listenAddr(network string) (string, error) {
	if network != servers.NetUnix {
		return "127.0.0.1:0", nil
	}
	if h.sockDir == "" {
		dir, err := os.MkdirTemp("", "sockactor-bench-")
		if err != nil {
			return "", err
		}
		h.sockDir = dir
	}
	h.sockN++
	return filepath.Join(h.sockDir, fmt.Sprintf("s%d.sock", h.sockN)), nil
}

// unavailableError is a server that refused the scenario's transport.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return "unavailable: " + e.reason }

// harnessMain is the bench's default role.
func harnessMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: cannot find my own executable to re-run it: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h := &harness{cfg: cfg, exe: exe, progress: newProgress(stderr, cfg.verbose), stderr: stderr}
	defer h.cleanup()
	defer h.children.killAll()
	run, runErr := h.run(ctx)
	if run == nil {
		fmt.Fprintf(stderr, "bench: %v\n", runErr)
		return 1
	}
	if err := report.WriteText(stdout, run); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if cfg.write {
		if err := writeResults(cfg.out, run, stderr); err != nil {
			fmt.Fprintf(stderr, "bench: writing results: %v\n", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "bench: %v\n", runErr)
		return 1
	}
	return 0
}

// run runs every scenario and returns the finished report. On
// interruption it returns what it has along with the error.
func (h *harness) run(ctx context.Context) (*report.Run, error) {
	start := time.Now()
	cases, notes := buildCases(h.cfg)
	if len(cases) == 0 {
		return nil, errors.New("nothing to run: no scenario applies to the chosen servers")
	}
	run := &report.Run{
		Started: start,
		Commit:  gitCommit(),
		Machine: machineInfo(),
		Suite:   h.cfg.suite,
		Rounds:  h.cfg.rounds,
		Notes:   notes,
	}
	if h.cfg.rounds < 3 {
		run.Notes = append(run.Notes, fmt.Sprintf("only %d round(s): fewer than 3 is no valid comparison", h.cfg.rounds))
	}
	if h.cfg.serverProcs > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("every server ran with GOMAXPROCS=%d (runtime.SuggestedGOMAXPROCS: gnet loops block in epoll_wait and need a spare P each; -server-procs 0 for Go's default)", h.cfg.serverProcs))
	}
	for _, s := range h.cfg.servers {
		desc := servers.Describe(s)
		if s == externalServer {
			desc = "external echo server at " + h.cfg.target
		}
		run.Servers = append(run.Servers, report.ServerInfo{Name: s, Description: desc})
		if s == baselineServer {
			run.Baseline = baselineServer
		}
	}
	if h.cfg.target == "" {
		if missing := missingServers(h.cfg.servers); len(missing) > 0 {
			run.Notes = append(run.Notes, fmt.Sprintf("not in this run: %v", missing))
		}
	}

	var err error
	for i, cs := range cases {
		sc, cerr := h.runCase(ctx, i+1, len(cases), cs)
		sc.Finalize(run.Baseline)
		run.Scenarios = append(run.Scenarios, sc)
		if cerr != nil {
			err = cerr
			run.Notes = append(run.Notes, "interrupted: "+cerr.Error())
			break
		}
	}
	deriveUDPPeerVsTCP(run)
	deriveRatioTo(run, kindHostileSlow, stdlibServer, loadgen.MetricRSSPerSlowPeer, loadgen.MetricRSSSlowVsStdlib)
	deriveRatioTo(run, kindBackpressure, stdlibServer, loadgen.MetricBPPeakRSS, loadgen.MetricBPPeakVsStdlib)
	deriveTLSRatios(run)
	if run.Baseline != "" {
		run.Targets = evaluateTargets(run)
		if n := banCheckNote(run); n != "" {
			run.Notes = append(run.Notes, n)
		}
	}
	run.Elapsed = time.Since(start).Seconds()
	return run, err
}

// missingServers lists the registered-by-design servers absent from the
// run, with the reason when it is the build.
func missingServers(chosen []string) []string {
	var out []string
	built := servers.Names()
	for _, s := range []string{"gnet", "stdlib", "naive", "sockactor-inline", "sockactor-pooled"} {
		inRun := false
		for _, c := range chosen {
			inRun = inRun || c == s
		}
		if inRun {
			continue
		}
		isBuilt := false
		for _, b := range built {
			isBuilt = isBuilt || b == s
		}
		if isBuilt {
			out = append(out, s+" (not selected)")
		} else {
			out = append(out, s+" (not built in: needs the core packages, build tag sockactor_api)")
		}
	}
	return out
}

// runCase runs one scenario: every round, every server in turn.
func (h *harness) runCase(ctx context.Context, idx, total int, cs caseSpec) (report.Scenario, error) {
	sc := cs.scenario
	sc.Results = make([]report.ServerResult, len(cs.servers))
	for i, s := range cs.servers {
		sc.Results[i] = report.ServerResult{Server: s, Rounds: make([]map[string]float64, h.cfg.rounds)}
	}
	start := time.Now()
	for round := range h.cfg.rounds {
		if cs.turns > 1 && srvOwned(cs) {
			err := h.runTurnsRound(ctx, cs, &sc, round, func(srv string, turn int) {
				h.progress.update(fmt.Sprintf("[%d/%d] %s: round %d/%d turn %d/%d %s (%.0f s)",
					idx, total, sc.ID, round+1, h.cfg.rounds, turn+1, cs.turns, srv, time.Since(start).Seconds()))
			})
			if err != nil {
				h.progress.done(fmt.Sprintf("[%d/%d] %s: interrupted", idx, total, sc.ID))
				return sc, err
			}
			continue
		}
		for i, srv := range cs.servers {
			if sc.Results[i].Unavailable != "" {
				continue // refused the transport once: it will again
			}
			if err := ctx.Err(); err != nil {
				h.progress.done(fmt.Sprintf("[%d/%d] %s: interrupted", idx, total, sc.ID))
				return sc, err
			}
			h.progress.update(fmt.Sprintf("[%d/%d] %s: round %d/%d %s (%.0f s)",
				idx, total, sc.ID, round+1, h.cfg.rounds, srv, time.Since(start).Seconds()))
			res, err := h.runOnce(ctx, cs, srv)
			r := &sc.Results[i]
			if err != nil {
				if ctx.Err() != nil {
					h.progress.done(fmt.Sprintf("[%d/%d] %s: interrupted", idx, total, sc.ID))
					return sc, ctx.Err()
				}
				if ue := (*unavailableError)(nil); errors.As(err, &ue) {
					r.Unavailable = ue.reason
					continue
				}
				r.Errors = append(r.Errors, fmt.Sprintf("round %d: %v", round+1, err))
				continue
			}
			r.Rounds[round] = res.Metrics
			for _, e := range res.Errors {
				r.Errors = append(r.Errors, fmt.Sprintf("round %d: %s", round+1, e))
			}
		}
	}
	h.progress.done(fmt.Sprintf("[%d/%d] %s: done in %.1f s", idx, total, sc.ID, time.Since(start).Seconds()))
	return sc, nil
}

// runOnce starts the server (unless external), runs the load generator
// against it and stops it; or runs the case's own round (caseSpec.run).
func (h *harness) runOnce(ctx context.Context, cs caseSpec, srv string) (loadgen.Result, error) {
	if cs.run != nil {
		rctx, cancel := context.WithTimeout(ctx, cs.timeout)
		defer cancel()
		return cs.run(rctx, h, srv)
	}
	if srv == externalServer {
		args := append([]string{"-role", "loadgen"}, cs.loadgen...)
		args = append(args, "-target", h.cfg.target, "-server-pid", strconv.Itoa(h.cfg.targetPID))
		return h.runLoadgen(ctx, args, cs.timeout)
	}
	t0 := time.Now()
	sp, err := h.startServerWith(ctx, srv, cs.network, cs.notify, cs.serverArgs, h.serverProcs(cs))
	if err != nil {
		return loadgen.Result{}, err
	}
	t1 := time.Now()
	res, lerr := h.runLoadgen(ctx, h.loadgenArgs(cs, sp), cs.timeout)
	t2 := time.Now()
	// A server that died under load is a result too.
	if derr := sp.diedUnder(srv); derr != nil {
		return res, errors.Join(lerr, derr)
	}
	if serr := sp.stop(10 * time.Second); serr != nil && lerr == nil {
		res.Errors = append(res.Errors, fmt.Sprintf("server %s did not stop cleanly: %v (%s)", srv, serr, sp.describeExit()))
	}
	if h.cfg.verbose {
		fmt.Fprintf(h.stderr, "    %s: server start %v, loadgen %v, server stop %v\n", srv,
			t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))
	}
	return res, lerr
}

// srvOwned reports whether the harness starts cs's servers itself (not a
// case with its own round, nor an external server).
func srvOwned(cs caseSpec) bool {
	return cs.run == nil && !slices.Contains(cs.servers, externalServer)
}

// serverProcs is the GOMAXPROCS of cs's server children (0: Go's
// default).
func (h *harness) serverProcs(cs caseSpec) int {
	if cs.goDefaultProcs {
		return 0
	}
	return h.cfg.serverProcs
}

// loadgenArgs are the load generator's arguments for cs against the
// running server sp.
func (h *harness) loadgenArgs(cs caseSpec, sp *serverProc) []string {
	args := append([]string{"-role", "loadgen"}, cs.loadgen...)
	args = append(args, "-target", sp.addr, "-server-pid", strconv.Itoa(sp.pid()))
	if cs.network == servers.NetUnix {
		args = append(args, "-network", cs.network)
	}
	if sp.notify != "" {
		args = append(args, "-notify", sp.notify)
	}
	if sp.remote != "" {
		args = append(args, "-node", sp.remote)
	}
	return args
}

// serverProc is a running server child.
type serverProc struct {
	*child
	addr   string
	notify string
	remote string // the server's remote address, when it was asked to be a node
}

// diedUnder returns an error if the server srv has exited (under load:
// a result too), its process reaped and stdin released; nil while it
// runs.
func (sp *serverProc) diedUnder(srv string) error {
	select {
	case <-sp.done:
		_ = sp.stop(time.Second) // releases the stdin pipe; the process is gone
		return fmt.Errorf("server %s died during the run: %s", srv, sp.describeExit())
	default:
		return nil
	}
}

// startServer starts a server child and waits for its "listening" (and
// "notify") lines.
func (h *harness) startServer(ctx context.Context, name string, notify bool, extra []string) (*serverProc, error) {
	return h.startServerOn(ctx, name, servers.NetTCP, notify, extra)
}

// startServerOn is startServer over network (tcp when empty). A server
// that refuses the network returns an *unavailableError.
func (h *harness) startServerOn(ctx context.Context, name, network string, notify bool, extra []string) (*serverProc, error) {
	return h.startServerWith(ctx, name, network, notify, extra, h.cfg.serverProcs)
}

// startServerWith is startServerOn with the server's GOMAXPROCS (0: Go's
// default, the environment variable unset).
func (h *harness) startServerWith(ctx context.Context, name, network string, notify bool, extra []string, procs int) (*serverProc, error) {
	if network == "" {
		network = servers.NetTCP
	}
	listen, err := h.listenAddr(network)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	args := []string{"-role", "server", "-server", name, "-listen", listen, "-network", network}
	if notify {
		args = append(args, "-notify", "127.0.0.1:0")
	}
	args = append(args, extra...)
	var env []string
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	c, err := h.children.startChild(ctx, h.exe, args, env...)
	if err != nil {
		return nil, fmt.Errorf("start server %s: %w", name, err)
	}
	sp := &serverProc{child: c}
	found, rest, err := c.stdout.waitAny(ctx, 20*time.Second, "listening ", "unsupported ")
	if err != nil {
		_ = c.stop(2 * time.Second)
		return nil, fmt.Errorf("server %s: %w (%s)", name, err, c.describeExit())
	}
	if found == "unsupported " {
		_ = c.stop(5 * time.Second) // it is exiting by itself
		return nil, &unavailableError{reason: rest}
	}
	sp.addr = rest
	if notify {
		if sp.notify, err = c.stdout.waitPrefix(ctx, "notify ", 5*time.Second); err != nil {
			_ = c.stop(2 * time.Second)
			return nil, fmt.Errorf("server %s: %w (%s)", name, err, c.describeExit())
		}
	}
	if slices.Contains(extra, "-remote") {
		if sp.remote, err = c.stdout.waitPrefix(ctx, "remote ", 10*time.Second); err != nil {
			_ = c.stop(2 * time.Second)
			return nil, fmt.Errorf("server %s: %w (%s)", name, err, c.describeExit())
		}
	}
	// Let the freshly started process finish its own start-up work (every
	// scenario also warms up before it measures).
	if !sleepCtx(ctx, 10*time.Millisecond) {
		_ = c.stop(2 * time.Second)
		return nil, ctx.Err()
	}
	return sp, nil
}

// runLoadgen runs a load-generator child to completion and decodes its
// JSON line.
func (h *harness) runLoadgen(ctx context.Context, args []string, timeout time.Duration) (loadgen.Result, error) {
	var res loadgen.Result
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := h.children.startChild(lctx, h.exe, args)
	if err != nil {
		return res, fmt.Errorf("start loadgen: %w", err)
	}
	<-c.done
	if c.err != nil {
		if lctx.Err() != nil && ctx.Err() == nil {
			return res, fmt.Errorf("loadgen timed out after %v: %s", timeout, c.describeExit())
		}
		return res, fmt.Errorf("loadgen: %s", c.describeExit())
	}
	line := c.stdout.json()
	if line == "" {
		return res, fmt.Errorf("loadgen printed no result: %s", c.describeExit())
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("loadgen result %q: %w", line, err)
	}
	return res, nil
}

// sleepCtx sleeps for d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
