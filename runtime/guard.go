package runtime

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// guard sits in front of protoactor remote's endpoint reader, on the gRPC
// server's stream, and looks at every message batch before remote does.
//
// protoactor's reader (at the version go.mod names) resolves each message
// type by its full name and dereferences the result unchecked: a message
// whose type this process does not link (an outdated or newer peer, a
// handler-specific message of another application) is a nil-pointer panic
// on the gRPC goroutine, which ends the process. Indexes out of range (a
// type, target or sender id) panic the same way. The guard removes such
// envelopes from the batch, counts them, and answers a request among them
// with protoactor's DeadLetterResponse (every protoactor node links it), so
// the sender learns at once that nothing was delivered.
//
// An envelope whose bytes do not decode as its type is refused the same
// way: protoactor's reader would end the whole connection on it.
//
// It also rewrites every target's address to this node's own: whatever
// reaches this server is meant for this node, and protoactor would take
// another spelling of its address (localhost for 127.0.0.1) for another
// node and send the message to itself again, for ever.
//
// Goroutine: the gRPC stream's; the counters are atomic.
type guard struct {
	system  *actor.ActorSystem
	refused atomic.Uint64
}

// intercept is the gRPC server's stream interceptor.
func (g *guard) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, guardedStream{ServerStream: ss, g: g})
}

// guardedStream checks each message as the reader receives it.
type guardedStream struct {
	grpc.ServerStream
	g *guard
}

func (s guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if rm, ok := m.(*remote.RemoteMessage); ok {
		if b := rm.GetMessageBatch(); b != nil {
			s.g.check(b)
		}
	}
	return nil
}

// serializer ids of protoactor remote: its proto serializer is the one
// senders use; its JSON one tolerates unknown types.
const (
	protoSerializer = 0
	jsonSerializer  = 1
)

// check removes the envelopes protoactor cannot deliver without panicking.
func (g *guard) check(b *remote.MessageBatch) {
	self := g.system.Address()
	for _, t := range b.Targets {
		if t != nil {
			t.Address = self
		}
	}
	kept := b.Envelopes[:0]
	for _, e := range b.Envelopes {
		if e != nil && g.deliverable(b, e) {
			kept = append(kept, e)
			continue
		}
		g.refused.Add(1)
		g.answer(b, e)
	}
	for i := len(kept); i < len(b.Envelopes); i++ {
		b.Envelopes[i] = nil
	}
	b.Envelopes = kept
}

func (g *guard) deliverable(b *remote.MessageBatch, e *remote.MessageEnvelope) bool {
	if e.TypeId < 0 || int(e.TypeId) >= len(b.TypeNames) ||
		e.Target < 0 || int(e.Target) >= len(b.Targets) || b.Targets[e.Target] == nil ||
		e.Sender < 0 || int(e.Sender) > len(b.Senders) || (e.Sender > 0 && b.Senders[e.Sender-1] == nil) {
		return false
	}
	switch e.SerializerId {
	case protoSerializer:
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(b.TypeNames[e.TypeId]))
		if err != nil {
			return false
		}
		// Bytes that do not decode would make protoactor's reader end the
		// whole connection, losing the rest of the batch (other actors'
		// messages): refuse this one alone. The message is small; this
		// decode costs far less than the hop it guards.
		return proto.Unmarshal(e.MessageData, mt.New().Interface()) == nil
	case jsonSerializer:
		return true
	}
	return false
}

// answer tells the sender of a refused request that it was not delivered.
func (g *guard) answer(b *remote.MessageBatch, e *remote.MessageEnvelope) {
	if e == nil || e.Sender <= 0 || int(e.Sender) > len(b.Senders) || b.Senders[e.Sender-1] == nil {
		return
	}
	sender := proto.Clone(b.Senders[e.Sender-1]).(*actor.PID)
	sender.RequestId = e.SenderRequestId
	var target *actor.PID
	if e.Target >= 0 && int(e.Target) < len(b.Targets) {
		target = b.Targets[e.Target]
	}
	g.system.Root.Send(sender, &actor.DeadLetterResponse{Target: target})
}
