package runtime

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/hostlink"
	"github.com/sockactor/sockactor/netio"
)

// socketHost is what the runtime drives in package actors: the socket table
// of one runtime (actors/host.go), built through internal/hostlink so that
// none of it is actors API. Every method is safe for concurrent use except
// Transport's handler methods, which the engine calls on its loops.
type socketHost interface {
	// Transport is the netio.Handler the engine reports to.
	Transport() netio.Handler
	AddListener(nl *netio.Listener, h actors.Handler, opts actors.ListenOptions) (*actors.Listener, error)
	Dial(ctx context.Context, eng *netio.Engine, addr string, h actors.Handler, opts actors.DialOptions) (*actor.PID, error)
	SocketPID(id uint64) *actor.PID
	Stats() actors.HostStats

	// Shutdown, in this order (Runtime.Shutdown): SetDown as the loops
	// begin to stop, StopTasks, then, once no loop runs, ReleaseAll and
	// WaitTasks.
	SetDown()
	StopTasks()
	ReleaseAll()
	WaitTasks(ctx context.Context) error
}

// newSocketHost builds the socket table. It panics only if package actors
// and this interface disagree, which every test of the runtime would show.
func newSocketHost(system *actor.ActorSystem, hub *events.Hub, opts hostlink.Options) socketHost {
	v := hostlink.New(system, hub, opts)
	h, ok := v.(socketHost)
	if !ok {
		panic(fmt.Sprintf("sockactor: actors host %T does not implement the runtime's socketHost", v))
	}
	return h
}
