package servers

import (
	"fmt"
	"slices"
)

// The flood-writer mode of the hostile scenario: every accepted TCP
// connection is written to until its peer, which never reads, has let the
// kernel's buffers and the server's own outbound queue fill, and the
// server is left waiting to write. What the server then costs while
// nothing happens (CPU, memory) is the figure.

// Server modes (Config.Mode).
const (
	// ModeEcho echoes every byte back: the servers' default.
	ModeEcho = ""
	// ModeFloodWriter writes FloodBytes to every accepted connection.
	ModeFloodWriter = "flood-writer"
)

// FloodChunk is the size of one write of a flood writer.
const FloodChunk = 64 << 10

// FloodHighWater is the sockactor servers' SendHighWater in the hostile
// scenario (the harness passes it): low enough that the queue of a writer
// that is refused stays well under DefaultFloodBytes, and at least
// FloodChunk over the low-water mark (a quarter of it), so that a refused
// write always leaves the queue above the low-water mark. (A write refused
// with the queue at or under the low-water mark gets its FD_WRITE at once,
// from inside Write under Inline dispatch; a handler that retries there
// recurses without end.)
const FloodHighWater = 192 << 10

// DefaultFloodBytes is what a flood writer writes to one connection when
// Config.FloodBytes is 0. It is a cap, not a goal: a peer that never reads
// takes far less (the kernel holds about 150 KB of it with the load
// generator's small receive window), and raw gnet, which buffers without
// bound, holds the rest.
const DefaultFloodBytes = 512 << 10

// floodBuf is what every flood write sends: one read-only buffer shared by
// every connection (the servers copy what they keep, or block).
var floodBuf = func() []byte {
	b := make([]byte, FloodChunk)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// floodBytes returns cfg's flood total.
func (cfg Config) floodBytes() int {
	if cfg.FloodBytes > 0 {
		return cfg.FloodBytes
	}
	return DefaultFloodBytes
}

// checkMode refuses a mode the server has not got (has lists its modes
// besides the echo), and any mode but the echo on a network other than TCP.
func checkMode(server string, cfg Config, has ...string) error {
	switch {
	case cfg.Mode == ModeEcho:
		return nil
	case cfg.Mode != ModeFloodWriter && cfg.Mode != ModeSlowConsumer:
		return fmt.Errorf("%s: unknown mode %q (%q, %q or %q)", server, cfg.Mode, ModeEcho, ModeFloodWriter, ModeSlowConsumer)
	case !slices.Contains(has, cfg.Mode):
		return unsupported("%s has no %s mode", server, cfg.Mode)
	case cfg.network() != NetTCP:
		return unsupported("%s mode is over tcp only, not %s", cfg.Mode, cfg.network())
	}
	return nil
}
