// Package hostlink is the runtime's private door into package actors: the
// socket table (which turns each gnet connection into a socket actor,
// registers it and releases it) is plumbing that only package runtime may
// build and drive, so it is not part of the actors API.
//
// Package actors registers its constructor in New from an init function;
// package runtime calls New and asserts the result to its own interface,
// whose methods are spelled with the actors types. The result is typed any
// here only because this package cannot import actors (actors imports it to
// register), the same trick the standard library and grpc-go use for their
// internal hooks.
package hostlink

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// Options configure the socket table. runtime.Options documents each field
// and validates them (runtime.Options.Validate); the zero value of each
// means the default that actors documents (actors.DefaultLinger, ...).
type Options struct {
	BanPolicy     netio.BanPolicy // BanDefault means BanReset
	Linger        time.Duration   // 0: actors.DefaultLinger; negative: release at once
	MaxSend       int             // 0: actors.DefaultMaxSend
	MaxInbound    int             // 0: actors.DefaultMaxInbound
	MaxBuffered   int64           // 0: actors.DefaultMaxBuffered
	SendHighWater int             // 0: actors.DefaultSendHighWater
	SendLowWater  int             // 0: a quarter of SendHighWater
	Logger        *slog.Logger    // nil: slog.Default()
}

// New builds the socket table of one runtime whose sockets live in system
// and publish through hub. Set once by package actors at init; read-only
// afterwards, so safe from any goroutine.
var New func(system *actor.ActorSystem, hub *events.Hub, opts Options) any
