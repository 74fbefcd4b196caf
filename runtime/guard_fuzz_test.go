package runtime

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/sockactor/sockactor/actors"
)

// FuzzGuard throws arbitrary message batches (a hostile or confused peer's
// bytes, as gRPC would decode them) at the guard, then walks what it kept
// the way protoactor's endpoint reader does: indexes into the batch's
// tables, then Deserialize by type name and serializer. Nothing may panic
// or fail to decode: whatever the reader would have choked on must have
// been refused, and every refusal is counted.
func FuzzGuard(f *testing.F) {
	info, _ := proto.Marshal(&actors.Info{})
	sender := actor.NewPID("127.0.0.1:7001", "watcher")
	target := actor.NewPID("127.0.0.1:7000", "sock/1")
	for _, b := range []*remote.MessageBatch{
		{ // deliverable: a known type, a target, a sender
			TypeNames: []string{"sockactor.actors.Info"}, Targets: []*actor.PID{target}, Senders: []*actor.PID{sender},
			Envelopes: []*remote.MessageEnvelope{{MessageData: info, Target: 0, Sender: 1, TypeId: 0}},
		},
		{ // a known type, bytes that do not decode as it
			TypeNames: []string{"sockactor.actors.Info"}, Targets: []*actor.PID{target},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{0xff, 0xff, 0xff}, Target: 0, TypeId: 0}},
		},
		{ // a type this process does not link
			TypeNames: []string{"other.app.Unknown"}, Targets: []*actor.PID{target}, Senders: []*actor.PID{sender},
			Envelopes: []*remote.MessageEnvelope{{MessageData: []byte{8, 1}, Target: 0, Sender: 1, TypeId: 0}},
		},
		{ // indexes out of range, a serializer nobody registered
			TypeNames: []string{"sockactor.actors.Info"}, Targets: []*actor.PID{target},
			Envelopes: []*remote.MessageEnvelope{
				{TypeId: 3}, {Target: 2}, {Sender: 5}, {TypeId: -1}, {SerializerId: 7},
			},
		},
	} {
		data, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(io.Discard, nil))
		}),
		// The refusals' answers go to foreign addresses, so dead letters:
		// keep the dead-letter throttle's goroutine short-lived.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer sys.Shutdown()
	g := &guard{system: sys}

	f.Fuzz(func(t *testing.T, data []byte) {
		var b remote.MessageBatch
		if proto.Unmarshal(data, &b) != nil {
			return
		}
		before, refused := len(b.Envelopes), g.refused.Load()
		g.check(&b)
		if got := int(g.refused.Load()-refused) + len(b.Envelopes); got != before {
			t.Fatalf("%d envelopes in, %d kept + %d refused", before, len(b.Envelopes), g.refused.Load()-refused)
		}
		for _, e := range b.Envelopes {
			// What protoactor's endpoint reader does with each one.
			if e.Sender > 0 {
				_ = b.Senders[e.Sender-1].Id
			}
			if b.Targets[e.Target].Address != sys.Address() {
				t.Fatalf("target address %q kept, want this node's %q", b.Targets[e.Target].Address, sys.Address())
			}
			_, err := remote.Deserialize(e.MessageData, b.TypeNames[e.TypeId], e.SerializerId)
			if err != nil {
				// protoactor's reader would end the connection here,
				// losing the rest of the batch.
				t.Fatalf("kept an envelope that does not decode: %v", err)
			}
		}
	})
}
