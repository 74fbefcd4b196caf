package actors_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"

	"github.com/sockactor/sockactor/actors"
)

// counter is one connection's state: how many bytes it has sent.
type counter struct{ bytes int }

// Each connection gets its own *counter, made on its first message and
// passed, typed, with every message after it.
func ExampleWithState() {
	h := actors.WithState(
		func(*actors.Context) *counter { return &counter{} },
		func(c *actors.Context, st *counter) {
			if m, ok := c.Message().(*actors.Received); ok {
				st.bytes += len(m.Data)
				_, _ = c.WriteString(strconv.Itoa(st.bytes) + "\n")
			}
		})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for _, msg := range []string{"abc", "de"} {
			_, _ = conn.Write([]byte(msg))
			line, _ := r.ReadString('\n')
			fmt.Print(line)
		}
	})
	// Output:
	// 3
	// 5
}
