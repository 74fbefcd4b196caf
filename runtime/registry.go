package runtime

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// registryBuckets is how many concurrent maps (32 shards each) the process
// registry of an actor system the runtime makes is spread over.
//
// protoactor makes 1024 (32,768 shard maps, 2.8 MB before any actor). A
// socket is one registry entry, and with that many maps nearly every socket
// lands in an empty one and pays it a fresh map group: a heap profile of
// 4000 idle sockets showed 1062 kB in concurrent-map's SetIfAbsent, 265 B per
// socket, about 0.4× of raw gnet's whole RSS per connection. With 4 maps
// (128 shards, each with its own lock) the entries share groups: about 40 B
// per socket. Every lookup still takes one shard's read lock; 128 of them
// keep that uncontended on the machines the runtime targets.
const registryBuckets = 4

// compactRegistry respreads system's process registry over
// registryBuckets maps, moving what is registered already. Only for a system
// the runtime made, before any other goroutine can use it (runtime.New).
func compactRegistry(system *actor.ActorSystem) {
	old := system.ProcessRegistry.LocalPIDs
	next := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, registryBuckets)}
	for i := range next.LocalPIDs {
		next.LocalPIDs[i] = cmap.New()
	}
	for _, m := range old.LocalPIDs {
		m.IterCb(func(key string, v any) { next.GetBucket(key).Set(key, v) })
	}
	system.ProcessRegistry.LocalPIDs = next
}
