package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	// Listeners are the node's listeners as Start bound them (a runtime's
	// listeners added or closed while it runs are not reflected).
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
