package actors

import (
	"context"
	"log/slog"

	"github.com/sockactor/sockactor/netio"
)

// sockactor's own log lines carry the socket's identity as attributes, so
// that a log pipeline can correlate them with events and metrics: "socket"
// (the id), "listener" (the id of the listener that accepted it; absent for
// a dialled socket) and "reason" (the FD_CLOSE word, when the line is about
// a close). Lines are rare by design: anomalies at Error, limit closes at
// Debug (their count is in the metrics).

// logAttrs returns the socket's attributes, with reason if r is not
// ReasonNone, followed by extra. Goroutine: any (reads immutable fields).
func (s *socket) logAttrs(r netio.Reason, extra ...any) []any {
	attrs := make([]any, 0, 6+len(extra))
	attrs = append(attrs, slog.Uint64("socket", s.id))
	if s.prof.lnID != 0 {
		attrs = append(attrs, slog.Uint64("listener", s.prof.lnID))
	}
	if r != netio.ReasonNone {
		attrs = append(attrs, slog.String("reason", r.String()))
	}
	return append(attrs, extra...)
}

// limitClose closes the socket because a limit was hit (FD_CLOSE 10055
// "limit"), logging it at Debug. Goroutine: the loop.
func (s *socket) limitClose(limit string) {
	if s.host.log.Enabled(context.Background(), slog.LevelDebug) {
		s.host.log.Debug("sockactor: limit reached; closing socket", s.logAttrs(netio.ReasonLimit, slog.String("limit", limit))...)
	}
	s.conn.LimitClose()
}
