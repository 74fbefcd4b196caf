package actors_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// A Pooled line server with RecycleReads: the handler may block (it runs
// on the runtime's worker pool), and each read's copy is lent for the call
// only, as under Inline, so a read costs no allocation. What the handler
// keeps across calls (here the unfinished line) it copies into its own
// state.
func ExampleSocketOptions_recycleReads() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	upper := actors.HandlerFunc(func(c *actors.Context) {
		m, ok := c.Message().(*actors.Received)
		if !ok {
			return
		}
		partial, _ := c.State().([]byte)
		partial = append(partial, m.Data...) // copied: m.Data goes back to the pool after this call
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			_, _ = c.Write(bytes.ToUpper(partial[:i+1]))
			partial = partial[i+1:]
		}
		c.SetState(append([]byte(nil), partial...))
	})
	ln, err := rt.Listen("tcp://127.0.0.1:0", upper, actors.ListenOptions{Dispatch: actors.Pooled, RecycleReads: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("one\ntw"))
	_, _ = conn.Write([]byte("o\n"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for range 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(line)
	}
	// Output:
	// ONE
	// TWO
}
