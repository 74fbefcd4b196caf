package runtime

import "os"

// logWriter sends protoactor's warnings to stderr, looked up at write time so
// tests that swap os.Stderr see them.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) { return os.Stderr.Write(p) }
