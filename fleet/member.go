package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Member is what a gateway publishes about itself: the value of its key
// (JSON). Values are copied; a Member is not shared.
type Member struct {
	// Address is the node's remote address, exactly as its PIDs carry it
	// (runtime.Runtime.Address); its node actor is NodePID(Address).
	Address string `json:"address"`
	// Incarnation names one life of the node: its start time and a random
	// part. A gateway restarted on the same address has a new one; one that
	// registers again after losing its lease keeps its own.
	Incarnation string `json:"incarnation"`
	// Started is when the node started.
	Started time.Time `json:"started"`
	// Listeners are the node's open listeners: those Start bound, then
	// kept current as listeners are added or closed while it runs
	// (Registration.SetListeners; a watcher reports CHANGE).
	Listeners []Listener `json:"listeners,omitempty"`
}

// Listener is one listener of a Member (a value, copied with it).
type Listener struct {
	ID      uint64 `json:"id"`
	Network string `json:"network"` // "tcp", "udp", "unix"
	Addr    string `json:"addr"`    // the bound address (real port)
}

// NewIncarnation returns a fresh incarnation for a node started at t: t in
// UTC (RFC 3339, nanoseconds) and 8 random bytes in hex. Safe for concurrent
// use.
func NewIncarnation(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format(time.RFC3339Nano) + "-" + hex.EncodeToString(b[:])
}

// Key returns the etcd key of the gateway at address under prefix. Safe
// for concurrent use.
func Key(prefix, address string) string { return prefix + address }

// cloneListeners copies ls; nil for none, so that a Member without
// listeners compares and encodes one way.
func cloneListeners(ls []Listener) []Listener {
	if len(ls) == 0 {
		return nil
	}
	return slices.Clone(ls)
}

// sameAs reports whether m and o are the same value of a key: a rewrite
// with the same content (a registration made again after a lost lease) is
// no change.
func (m Member) sameAs(o Member) bool {
	return m.Address == o.Address && m.Incarnation == o.Incarnation && m.Started.Equal(o.Started) &&
		slices.Equal(m.Listeners, o.Listeners)
}

func (m Member) encode() (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeMember(key, prefix string, v []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(v, &m); err != nil {
		return m, fmt.Errorf("fleet: key %s: %w", key, err)
	}
	if m.Address == "" || m.Address != strings.TrimPrefix(key, prefix) {
		return m, fmt.Errorf("fleet: key %s names another address (%q)", key, m.Address)
	}
	return m, nil
}
