package events_test

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
)

// A Mask reads like a WSAAsyncSelect lEvent: Winsock's FD_* bits.
func ExampleMaskOf() {
	m := events.MaskOf(events.FDRead, events.FDClose)
	fmt.Printf("0x%02x %v\n", uint32(m), m)
	fmt.Println(m.Has(events.FDClose), m.Has(events.FDWrite), m.Valid())
	fmt.Println(events.MaskAll)
	fmt.Println(events.Mask(0).Valid(), events.Mask(0x40).Valid())
	// Output:
	// 0x21 FD_READ|FD_CLOSE
	// true false true
	// FD_READ|FD_WRITE|FD_OOB|FD_ACCEPT|FD_CONNECT|FD_CLOSE
	// false false
}

func ExampleKind_String() {
	for _, k := range []events.Kind{events.FDRead, events.FDWrite, events.FDOOB, events.FDAccept, events.FDConnect, events.FDClose, 0x40} {
		fmt.Printf("0x%02x %s\n", uint32(k), k)
	}
	// Output:
	// 0x01 FD_READ
	// 0x02 FD_WRITE
	// 0x04 FD_OOB
	// 0x08 FD_ACCEPT
	// 0x10 FD_CONNECT
	// 0x20 FD_CLOSE
	// 0x40 FD_UNKNOWN
}

// ParseKind takes the Winsock name in any case, with or without "FD_".
func ExampleParseKind() {
	for _, s := range []string{"FD_CLOSE", "close", "fd_read", "bogus"} {
		k, ok := events.ParseKind(s)
		fmt.Println(s, k, ok)
	}
	// Output:
	// FD_CLOSE FD_CLOSE true
	// close FD_CLOSE true
	// fd_read FD_READ true
	// bogus FD_UNKNOWN false
}

// Subs.With and Subs.Without never modify the list they are called on, so a
// list already handed to Publish stays intact.
func ExampleSubs() {
	alice := actor.NewPID("nonhost", "alice")
	bob := actor.NewPID("node-2:8090", "bob")

	var subs events.Subs
	subs = subs.With(alice, events.MaskOf(events.FDRead))
	subs = subs.With(bob, events.MaskAll)
	next := subs.With(alice, events.MaskOf(events.FDClose)) // replaces alice's mask
	next, removed := next.Without(bob)

	fmt.Println(len(subs), subs.Has(alice, events.FDRead), subs.Has(bob, events.FDClose))
	fmt.Println(len(next), removed, next.Has(alice, events.FDRead), next.Has(alice, events.FDClose))
	// Output:
	// 2 true true
	// 1 true false true
}
