//go:build !go1.25

package runtime

// defaultGOMAXPROCS: before Go 1.25 GOMAXPROCS cannot be handed back to Go
// once set, and its default is the CPU count.
func defaultGOMAXPROCS() (n int, ok bool) { return 0, false }
