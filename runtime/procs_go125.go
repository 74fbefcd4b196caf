//go:build go1.25

package runtime

import goruntime "runtime"

// defaultGOMAXPROCS hands GOMAXPROCS back to Go, which then sets it from
// the CPU quota and follows the quota's changes, and returns the value Go
// chose. ok is false before Go 1.25, which has no such call.
func defaultGOMAXPROCS() (n int, ok bool) {
	goruntime.SetDefaultGOMAXPROCS()
	return goruntime.GOMAXPROCS(0), true
}
