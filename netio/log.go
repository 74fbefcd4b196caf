package netio

import (
	"fmt"
	"log/slog"
)

// gnetLogger routes gnet's log lines to slog: errors and warnings only, and
// never to stdout (commands built on the runtime own their stdout).
type gnetLogger struct{ log *slog.Logger }

func (l gnetLogger) Debugf(string, ...any) {}
func (l gnetLogger) Infof(string, ...any)  {}
func (l gnetLogger) Warnf(format string, args ...any) {
	l.log.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (l gnetLogger) Errorf(format string, args ...any) {
	l.log.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (l gnetLogger) Fatalf(format string, args ...any) {
	l.log.Error("gnet: fatal: " + fmt.Sprintf(format, args...))
}
