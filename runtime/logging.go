package runtime

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// Logging. sockactor writes its own lines (a handler panic, for one) to
// Options.Logger with the attributes "socket", "listener" and "reason" where
// they apply. protoactor writes its lines to the actor system's logger,
// which the runtime builds over the same Logger but lets through only from
// Options.ActorLogLevel up (warnings by default): "actor system started",
// dead letters and other INFO chatter stay out of the application's logs.
// Dead letters of socket actors are never logged, whatever the level: a
// request to a released socket is answered WSAENOTSOCK, an ordinary event
// (the socket messages implement protoactor's IgnoreDeadLetterLogging, and
// the filter below drops any other message whose dead PID is a socket's).
// protoactor remote's own lines about its connections ("Endpoint...") are
// left out too: Stats().Remote counts what they report (remote.go).

// ActorSystemLogging is the protoactor option that gives an actor system the
// logging a Runtime gives its own: protoactor's lines go to base's handler
// (to stderr as text if base is nil), from min up (slog.LevelWarn if nil),
// tagged lib=protoactor, without the dead letters of sockets. Pass it to
// actor.NewActorSystem when you bring your own system (Options.ActorSystem),
// so that it logs as quietly:
//
//	sys := actor.NewActorSystem(runtime.ActorSystemLogging(logger, nil))
//
// The returned option and the loggers it makes are safe for concurrent use.
func ActorSystemLogging(base *slog.Logger, min slog.Leveler) actor.ConfigOption {
	if min == nil {
		min = slog.LevelWarn
	}
	return actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		var h slog.Handler
		if base != nil {
			h = base.Handler()
		} else {
			h = slog.NewTextHandler(logWriter{}, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		return slog.New(&actorLogHandler{next: h, min: min}).With("lib", "protoactor")
	})
}

// actorLogHandler filters protoactor's records: below min, or a dead letter
// of a socket actor, they are dropped. Safe for concurrent use (it holds
// nothing mutable).
type actorLogHandler struct {
	next slog.Handler
	min  slog.Leveler
}

func (h *actorLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.next.Enabled(ctx, l)
}

func (h *actorLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min.Level() || socketDeadLetter(r) || remoteChatter(r) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *actorLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &actorLogHandler{next: h.next.WithAttrs(as), min: h.min}
}

func (h *actorLogHandler) WithGroup(name string) slog.Handler {
	return &actorLogHandler{next: h.next.WithGroup(name), min: h.min}
}

// socketDeadLetter reports whether r is protoactor's dead-letter line for a
// message to a socket actor's PID ("sock/<id>").
func socketDeadLetter(r slog.Record) bool {
	if r.Message != "[DeadLetter]" {
		return false
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pid" {
			return true
		}
		if pid, ok := a.Value.Any().(*actor.PID); ok && pid != nil && strings.HasPrefix(pid.Id, "sock/") {
			found = true
		}
		return false
	})
	return found
}
