package runtime_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// A runtime reachable from other nodes: its PIDs carry its remote
// address, and its node actor answers a snapshot request (here sent from
// the same node; another node sends it to NodePID of the printed address
// the same way).
func ExampleNodePID() {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Remote: &sockrt.RemoteOptions{Listen: "127.0.0.1:0"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(context.Background())
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()

	node := sockrt.NodePID(rt.Address()) // what another node needs: the address
	var snap *events.Snapshot
	for i := 0; i < 500; i++ { // until the accept is in the table
		if snap, err = rt.Caller.Snapshot(ctx, node, nil, 0); err != nil || len(snap.Sockets) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	e := snap.Sockets[0]
	fmt.Println(strings.HasPrefix(rt.Address(), "127.0.0.1:"), e.PidAddress == rt.Address(), e.State, e.RemoteAddr == c.LocalAddr().String())
	// Output: true true open true
}
