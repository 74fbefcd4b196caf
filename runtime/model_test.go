package runtime_test

// A model-based test of one accepted TCP socket: a plain-Go reference model
// of the contract (docs/SEMANTICS.md), driven by seeded random operations
// against the live runtime.
//
// Each sequence runs on a fresh connection to one listener of a runtime
// shared per dispatch mode; the listener (push or pull delivery, ban policy
// reset or discard) is drawn from the sequence's seed. After every
// operation the runtime's reply is compared with the model's; peer-side
// effects are checked where they are deterministic; when the sequence ends
// (always with the socket released) the events a runtime-wide subscriber
// and every per-socket subscriber got are compared with the model's.
//
// The model is made deterministic by synchronisation, never by sleeping: a
// peer write is followed by polling Info until bytes_in shows it (and, in
// push mode, until the handler has it), a peer FIN or RST by polling until
// Info.state is "closed"; the peer reads what a Send sent before the next
// operation.
//
// Read pauses (§2 "Read pauses", §5 "Inbound back-pressure";
// model_pause_test.go): SuspendReading and ResumeReading with their codes;
// while the application's pause holds, the peer's bytes and FIN wait in the
// kernel (the model keeps them as held) and arrive, in order, on
// ResumeReading or the RecvDisconnect that lifts the pause, and Info's
// read_paused_by names "app" exactly while it holds. A flood (far more than
// the runtime's small MaxInbound, to a pull reader or a gated pooled
// handler that takes nothing at first) makes the runtime pause by itself;
// every byte must still reach the application in order and the pause must
// be lifted once it has taken them.
//
// Where the contract leaves a choice open the model accepts each of the
// allowed answers (see the "ambiguous" notes at the operations).
//
// Flags: -model.seed (seed of the first sequence; sequence i uses seed+i),
// -model.seqs (sequences per dispatch mode), -model.ops (random operations
// per sequence), -model.par (sequences run at once per mode). Reproduce a
// reported sequence with -run 'TestModel/<mode>$' -model.seed=<seed>
// -model.seqs=1.

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

var (
	modelSeed = flag.Int64("model.seed", 0, "TestModel: seed of the first sequence, sequence i uses seed+i (0: pick one)")
	modelSeqs = flag.Int("model.seqs", 150, "TestModel: sequences per dispatch mode")
	modelOps  = flag.Int("model.ops", 24, "TestModel: random operations per sequence (a Close is added if the socket is still open)")
	modelPar  = flag.Int("model.par", 4, "TestModel: sequences run concurrently per dispatch mode")
	modelV    = flag.Bool("model.v", false, "TestModel: log every sequence's history and events")
	modelTLS  = flag.Int("model.tlsseqs", 150, "TestModelTLS: sequences per dispatch mode")
)

// modelWait bounds every synchronisation wait of a sequence. Every such
// wait is for something due (none passes by running out), so the bound
// costs nothing when the runtime is right; it is long because one stall of
// a loaded machine among thousands of waits would fail the whole run.
const modelWait = 10 * time.Second

// modelMaxInbound is the model runtime's MaxInbound: small, so that a
// flood (opFlood) of a few hundred KiB pauses reads automatically.
const modelMaxInbound = 64 << 10

// floodWait bounds one flood from its first byte written to its last byte
// taken by the application.
const floodWait = 30 * time.Second

func TestModel(t *testing.T) { runModel(t, false, *modelSeqs) }

// TestModelTLS is TestModel over tls://: the peer is Go's TLS client over a
// TCP connection, so the peer's FIN is close_notify then the TCP FIN, its
// reset an RST of the TCP connection (no close_notify), and a new
// operation, PeerTruncate, is the TCP FIN alone (FD_CLOSE 10053 truncated,
// §8). Byte counts are plaintext. Its sequence count is -model.tlsseqs.
func TestModelTLS(t *testing.T) {
	runModel(t, true, *modelTLS)
}

func runModel(t *testing.T, overTLS bool, seqs int) {
	base := *modelSeed
	if base == 0 {
		base = time.Now().UnixNano() % 1_000_000_000
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		start := time.Now()
		h := startModelHarness(t, mode, overTLS)
		par := max(1, *modelPar)
		seeds := make(chan int64)
		var mu sync.Mutex
		var divs []*divergence
		bad := 0
		var wg sync.WaitGroup
		for w := 0; w < par; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seed := range seeds {
					d := h.runSeq(seed)
					mu.Lock()
					divs = append(divs, d...)
					if len(d) > 0 {
						bad++
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < seqs; i++ {
			seeds <- base + int64(i)
		}
		close(seeds)
		wg.Wait()
		t.Logf("%s: %d sequences (seeds %d..%d), %d operations, %d sequences diverged, in %v",
			mode, seqs, base, base+int64(seqs)-1, h.ops.Load(), bad, time.Since(start).Round(time.Millisecond))
		h.obsMu.Lock()
		obs := make([]string, 0, len(h.obs))
		for k, n := range h.obs {
			obs = append(obs, fmt.Sprintf("%s [%dx]", k, n))
		}
		cov := make([]string, 0, len(h.cov))
		for k, n := range h.cov {
			cov = append(cov, fmt.Sprintf("%s: %d", k, n))
		}
		h.obsMu.Unlock()
		sort.Strings(obs)
		sort.Strings(cov)
		t.Logf("%s: coverage: %s", mode, strings.Join(cov, ", "))
		if len(obs) > 0 {
			t.Logf("%s: answers where the contract leaves a choice (all accepted):\n  %s", mode, strings.Join(obs, "\n  "))
		}
		if len(divs) == 0 {
			return
		}
		reportDivergences(t, h, divs)
	})
}

// reportDivergences groups divergences by kind and shows one example of each
// with its seed, operation index and history.
func reportDivergences(t *testing.T, h *modelHarness, divs []*divergence) {
	t.Helper()
	groups := map[string][]*divergence{}
	for _, d := range divs {
		groups[d.sig()] = append(groups[d.sig()], d)
	}
	sigs := make([]string, 0, len(groups))
	for s := range groups {
		sigs = append(sigs, s)
	}
	sort.Slice(sigs, func(i, j int) bool {
		if len(groups[sigs[i]]) != len(groups[sigs[j]]) {
			return len(groups[sigs[i]]) > len(groups[sigs[j]])
		}
		return sigs[i] < sigs[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d divergences of %d kinds from the model (%s):\n", len(divs), len(sigs), h.mode)
	for _, s := range sigs {
		g := groups[s]
		sort.Slice(g, func(i, j int) bool { return g[i].seed < g[j].seed })
		d := g[0]
		fmt.Fprintf(&b, "- [%dx] %s\n    e.g. seed %d op %d, model state before: %s", len(g), s, d.seed, d.op, d.state)
		if d.detail != "" {
			fmt.Fprintf(&b, "; %s", d.detail)
		}
		fmt.Fprintf(&b, "\n    history: %s\n", strings.Join(d.hist, " | "))
		seqsFlag := "model.seqs"
		if h.tls {
			seqsFlag = "model.tlsseqs"
		}
		fmt.Fprintf(&b, "    reproduce: go test -race -run '%s$' ./runtime/ -model.seed=%d -%s=1 -model.ops=%d\n", h.test, d.seed, seqsFlag, *modelOps)
	}
	t.Error(b.String())
}
