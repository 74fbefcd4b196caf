package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/fleet/embedetcd"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// A watcher follows every gateway of a fleet: here one gateway, registered
// in an embedded etcd, that accepts a connection and then shuts down.
func ExampleWatcher() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fleet-example")
	defer os.RemoveAll(dir)
	silent := slog.New(slog.DiscardHandler)

	// Every protoactor remote of a process starts before its etcd server
	// and clients (gRPC's process-wide logger; docs/SEMANTICS.md §7).
	sys := actor.NewActorSystem(sockrt.ActorSystemLogging(silent, nil))
	defer sys.Shutdown()
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: "127.0.0.1:0"}); err != nil {
		fmt.Println(err)
		return
	}
	defer sockrt.StopRemote(sys)
	ecfg, _ := embedetcd.NewConfig(dir)
	cfg := fleet.Config{Endpoints: ecfg.Endpoints(), TTL: time.Second}
	gw, _ := sockrt.New(sockrt.Options{Logger: silent, Remote: &sockrt.RemoteOptions{Listen: "127.0.0.1:0"}, Fleet: &cfg})
	ln, _ := gw.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})

	etcd, err := embedetcd.Start(ctx, ecfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer etcd.Close()
	_ = gw.Start(ctx) // registers once its node actor answers

	updates := make(chan fleet.Update, 16)
	w, _ := fleet.NewWatcher(sys, cfg, fleet.WatchOptions{OnUpdate: func(u fleet.Update) { updates <- u }})
	defer w.Close(ctx)
	show := func() {
		u := <-updates
		switch u.Kind {
		case fleet.Snapshot:
			fmt.Println(u.Kind, "sockets:", len(u.Snapshot.Sockets))
		case fleet.Event:
			fmt.Println(u.Kind, u.Event.EventKind())
		case fleet.Gone:
			fmt.Println(u.Kind, "reason:", u.Reason) // synthetic: never an FD_CLOSE
		default:
			fmt.Println(u.Kind, u.Gateway.Address == gw.Address())
		}
	}
	show() // JOIN
	show() // SNAPSHOT

	conn, _ := net.Dial("tcp", ln.Addr().String())
	defer conn.Close()
	show() // FD_ACCEPT

	_ = gw.Shutdown(ctx) // revokes the lease first
	show()               // GONE, the socket the watcher had
	show()               // LEAVE
	// Output:
	// JOIN true
	// SNAPSHOT sockets: 0
	// EVENT FD_ACCEPT
	// GONE reason: leave
	// LEAVE true
}
