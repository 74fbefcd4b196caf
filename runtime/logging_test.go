package runtime_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// logSink is a slog.Handler that keeps every record, at every level. Safe
// for concurrent use.
type logSink struct {
	mu    sync.Mutex
	recs  []slog.Record
	attrs []slog.Attr // from WithAttrs (shared by the records of that logger)
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r = r.Clone()
	r.AddAttrs(s.attrs...)
	s.recs = append(s.recs, r)
	return nil
}
func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{s: s, attrs: as}
}
func (s *logSink) WithGroup(string) slog.Handler { return s }

// logView is a logSink seen through WithAttrs.
type logView struct {
	s     *logSink
	attrs []slog.Attr
}

func (v *logView) Enabled(context.Context, slog.Level) bool { return true }
func (v *logView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.s.Handle(ctx, r)
}
func (v *logView) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{s: v.s, attrs: append(append([]slog.Attr(nil), v.attrs...), as...)}
}
func (v *logView) WithGroup(string) slog.Handler { return v }

// lines returns each record as "LEVEL msg k=v k=v".
func (s *logSink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		var b strings.Builder
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// TestLogging checks what reaches the application's Logger: protoactor's
// INFO lines stay out by default (and come in with ActorLogLevel), requests
// to released sockets are never logged as dead letters, and sockactor's
// own lines carry socket, listener and reason.
func TestLogging(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		for _, level := range []slog.Leveler{nil, slog.LevelDebug} {
			sink := &logSink{}
			rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Linger: -1, Logger: slog.New(sink), ActorLogLevel: level})
			if err != nil {
				t.Fatal(err)
			}
			h := actors.HandlerFunc(func(c *actors.Context) {
				if m, ok := c.Message().(*actors.Received); ok && string(m.Data) == "boom" {
					panic("handler bug")
				}
			})
			ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: d})
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctx5(t)
			if err := rt.Start(ctx); err != nil {
				t.Fatal(err)
			}
			rec := newRecorder(t, rt.System())
			if err := rt.Subscribe(rec.PID, events.MaskOf(events.FDAccept, events.FDClose)); err != nil {
				t.Fatal(err)
			}
			c := dial(t, ln.Addr().String())
			id := rec.Accepted(t, 1)
			_, _ = c.Write([]byte("boom"))
			if ev := rec.CloseEvent(t, id); ev.Reason != "local-abort" {
				t.Fatalf("FD_CLOSE %q after the panic", ev.Reason)
			}
			// Requests to the released socket: a socket message through
			// the Caller, and a message of the application's own.
			socktest.WaitFor(t, "release", func() bool {
				_, err := rt.Info(ctx, rt.SocketPID(id))
				return errors.Is(err, winsock.ErrNotSock)
			})
			_, _ = rt.System().Root.RequestFuture(rt.SocketPID(id), "hello?", time.Second).Result()
			if err := rt.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}

			lines := sink.lines()
			all := strings.Join(lines, "\n")
			if strings.Contains(all, "DeadLetter") {
				t.Errorf("ActorLogLevel %v: a dead letter was logged:\n%s", level, all)
			}
			started := strings.Contains(all, "actor system started")
			if started != (level != nil) {
				t.Errorf("ActorLogLevel %v: \"actor system started\" logged = %v:\n%s", level, started, all)
			}
			var panicLine string
			for _, l := range lines {
				if strings.Contains(l, "handler panic") {
					panicLine = l
				}
			}
			for _, want := range []string{"socket=" + strconv.FormatUint(id, 10), "listener=" + strconv.FormatUint(ln.ID(), 10), "reason=local-abort", "panic=handler bug"} {
				if !strings.Contains(panicLine, want) {
					t.Errorf("panic line %q lacks %s", panicLine, want)
				}
			}
		}
	})
}
