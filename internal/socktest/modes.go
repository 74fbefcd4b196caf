package socktest

import (
	"fmt"
	"testing"
)

// EachMode runs body once for every mode in modes, each time as a subtest
// of t named m.String(), so that `-run 'TestX/pooled'` picks one mode. It is
// the one loop of every test that runs in each dispatch mode (and, later,
// each transport): the modes are a parameter, as this package does not
// import actors.
func EachMode[M fmt.Stringer](t *testing.T, modes []M, body func(t *testing.T, m M)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) { body(t, m) })
	}
}
