package events

import (
	"fmt"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// Kind is one FD_* notification kind. The values are Winsock's bits, so a
// Mask reads the same as a WSAAsyncSelect lEvent.
type Kind uint32

// The FD_* kinds (docs/SEMANTICS.md §4).
const (
	FDRead    Kind = 0x01
	FDWrite   Kind = 0x02
	FDOOB     Kind = 0x04
	FDAccept  Kind = 0x08
	FDConnect Kind = 0x10
	FDClose   Kind = 0x20
)

// Mask is a set of Kinds.
type Mask uint32

// MaskAll selects every kind.
const MaskAll = Mask(FDRead | FDWrite | FDOOB | FDAccept | FDConnect | FDClose)

// MaskOf returns the mask holding the given kinds.
func MaskOf(kinds ...Kind) Mask {
	var m Mask
	for _, k := range kinds {
		m |= Mask(k)
	}
	return m
}

// Has reports whether m selects k.
func (m Mask) Has(k Kind) bool { return m&Mask(k) != 0 }

// Valid reports whether m is non-empty and has no bit outside MaskAll.
func (m Mask) Valid() bool { return m != 0 && m&^MaskAll == 0 }

var kindNames = []struct {
	k    Kind
	name string
}{
	{FDRead, "FD_READ"}, {FDWrite, "FD_WRITE"}, {FDOOB, "FD_OOB"},
	{FDAccept, "FD_ACCEPT"}, {FDConnect, "FD_CONNECT"}, {FDClose, "FD_CLOSE"},
}

// String returns "FD_CLOSE" and so on.
func (k Kind) String() string {
	for _, kn := range kindNames {
		if kn.k == k {
			return kn.name
		}
	}
	return "FD_UNKNOWN"
}

// String returns the kinds joined by "|", "0" for an empty mask.
func (m Mask) String() string {
	var parts []string
	for _, kn := range kindNames {
		if m.Has(kn.k) {
			parts = append(parts, kn.name)
		}
	}
	if rest := m &^ MaskAll; rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// ParseKind parses "FD_CLOSE" (case-insensitive, the "FD_" optional).
func ParseKind(s string) (Kind, bool) {
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "FD_") {
		u = "FD_" + u
	}
	for _, kn := range kindNames {
		if kn.name == u {
			return kn.k, true
		}
	}
	return 0, false
}

// EventKind returns the event's kind as a Kind.
func (x *Event) EventKind() Kind { return Kind(x.GetKind()) }

// PID returns the socket's actor PID (nil when the event names none).
func (x *Event) PID() *actor.PID {
	if x.GetPidId() == "" {
		return nil
	}
	return actor.NewPID(x.GetPidAddress(), x.GetPidId())
}
