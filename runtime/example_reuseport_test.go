package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Two runtimes, as two versions of a server would be during a rolling
// restart, share one TCP port through Options.ReusePort: the kernel
// spreads new connections over both; once the old one shuts down, the new
// one takes them all.
func ExampleOptions_reusePort() {
	ctx := context.Background()
	named := func(name string) actors.Handler {
		return actors.HandlerFunc(func(c *actors.Context) {
			if _, ok := c.Message().(*actors.Received); ok {
				c.Write([]byte(name))
			}
		})
	}
	oldRT, _ := sockrt.New(sockrt.Options{ReusePort: true})
	ln, _ := oldRT.Listen("tcp://127.0.0.1:0", named("old"), actors.ListenOptions{})
	_ = oldRT.Start(ctx)
	addr := ln.Addr().String()

	newRT, _ := sockrt.New(sockrt.Options{ReusePort: true})
	_ = newRT.Start(ctx)
	if _, err := newRT.Listen("tcp://"+addr, named("new"), actors.ListenOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	ask := func() string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.Write([]byte("?"))
		b := make([]byte, 3)
		io.ReadFull(c, b)
		return string(b)
	}
	served := map[string]bool{}
	for range 64 {
		served[ask()] = true
	}
	fmt.Println("served by old:", served["old"], "and new:", served["new"])

	_ = oldRT.Shutdown(ctx)
	fmt.Println("after the old one stops:", ask())
	_ = newRT.Shutdown(ctx)
	// Output:
	// served by old: true and new: true
	// after the old one stops: new
}
