package runtime

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	cmap "github.com/orcaman/concurrent-map"
)

// This file is the one place where package runtime relies on protoactor's
// internals (checked against github.com/asynkron/protoactor-go
// v0.0.0-20240822202345-3c0e61ca19c9, the version in go.mod). Each
// reliance has a test that fails if it breaks (in protoactorinternal_test.go
// unless said):
//
//   - readerConnections: remote's list of inbound streams, an unexported
//     field found by name and type (TestRemoteReaderList);
//   - endpointWatchers: the watcher actors of remote's endpoints, found
//     through its unexported endpoint list by name and type (checked by
//     TestShutdownUnreachableSubscriber in remotestop_test.go, which has
//     the endpoint a watcher needs: a test of its own would add a remote
//     start and a failed dial to the package, see internal/grpcorder);
//   - compactRegistry: the process registry's layout (actor.SliceMap of
//     concurrent maps, a key's bucket chosen by GetBucket over however many
//     maps there are), respread over fewer maps (TestCompactRegistry).
//
// Package actors writes that registry directly (its own
// protoactorinternal.go). One more reliance is on behaviour rather than
// layout: remote.Start writes gRPC's process-wide logger without
// synchronization, which internal/grpcorder orders.

// The remote's reader list. Remote.Shutdown(true) sends a
// "disconnect" on the channel of every inbound stream still listed in its
// endpoint manager, while each stream's reader closes that channel as its
// handler returns and only later takes the stream off the list. After
// Shutdown(false) has stopped the gRPC server (which cancels the streams
// but does not wait for their handlers), the two can meet: a send on a
// closed channel, which the race detector reports and which would panic.
// So stop waits, after Shutdown(false), until the list is empty (bounded by
// readersDrainWait). protoactor exposes no accessor: readerConnections
// finds the list by field name and type, and if protoactor's layout ever
// changes it returns nil, stop does not wait, and TestRemoteReaderList
// fails.

// readersDrainWait bounds stop's wait for the inbound stream readers.
const readersDrainWait = 2 * time.Second

// readerConnections returns the endpoint manager's list of inbound
// streams, nil if it cannot be found.
func readerConnections(r *remote.Remote) *sync.Map {
	return managerMap(r, "endpointReaderConnections")
}

// managerMap returns the *sync.Map field name of r's endpoint manager, nil
// if it cannot be found.
func managerMap(r *remote.Remote, name string) *sync.Map {
	if r == nil {
		return nil
	}
	v := reflect.ValueOf(r).Elem()
	em := v.FieldByName("edpManager")
	if !em.IsValid() || em.Kind() != reflect.Pointer || em.IsNil() {
		return nil
	}
	m := em.Elem().FieldByName(name)
	if !m.IsValid() || m.Type() != reflect.TypeOf((*sync.Map)(nil)) || m.IsNil() {
		return nil
	}
	return (*sync.Map)(unsafe.Pointer(m.Pointer()))
}

// The endpoint watchers. Remote.Shutdown(true) sets a plain bool of its
// endpoint manager (stopped) that every send to another node reads, with
// no synchronization: a send from one of our own goroutines is ordered
// before it (they have all ended by then), but protoactor's endpoint
// watcher actors send too (a Watch passed on to the node it watches, from
// the dispatcher goroutine that ran the watcher's mailbox), and nothing
// orders those goroutines before the shutdown's, however long ago they
// ran: the race detector reported it (a subscriber on a node that never
// answers, shut down). So stop first stops every watcher and waits for
// each (StopFuture: the watcher's last message is handled before its
// Terminated comes back), which orders all their sends before the write.
// A watcher only passes watches on and tells local watchers of a node's
// end; after Shutdown(false) neither is wanted.

// endpointWatchers returns the watcher actors of the endpoints r has
// connected (one per node it talked to), and whether the endpoint list
// was found (false if protoactor's layout changed). An endpoint still
// connecting has no watcher yet and is left out: its lookup is not
// forced.
func endpointWatchers(r *remote.Remote) ([]*actor.PID, bool) {
	conns := managerMap(r, "connections")
	if conns == nil {
		return nil, false
	}
	found := true
	var pids []*actor.PID
	conns.Range(func(_, v any) bool {
		pid, ok := lazyWatcher(v)
		if !ok {
			found = false
			return false
		}
		if pid != nil {
			pids = append(pids, pid)
		}
		return true
	})
	return pids, found
}

// lazyWatcher returns the watcher of one entry of the endpoint list (a
// *endpointLazy whose endpoint, an atomic.Value, holds a *endpoint once
// connected), nil if it is not connected yet; false if the entry's layout
// is not the one known.
func lazyWatcher(entry any) (*actor.PID, bool) {
	v := reflect.ValueOf(entry)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("endpoint")
	if !f.IsValid() || f.Type() != reflect.TypeOf(atomic.Value{}) || !f.CanAddr() {
		return nil, false
	}
	ep := (*atomic.Value)(unsafe.Pointer(f.UnsafeAddr())).Load()
	if ep == nil {
		return nil, true // still connecting
	}
	e := reflect.ValueOf(ep)
	if e.Kind() != reflect.Pointer || e.IsNil() || e.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	w := e.Elem().FieldByName("watcher")
	if !w.IsValid() || w.Type() != reflect.TypeOf((*actor.PID)(nil)) {
		return nil, false
	}
	if w.IsNil() {
		return nil, true
	}
	return (*actor.PID)(unsafe.Pointer(w.Pointer())), true
}

// stopWatchers stops every endpoint watcher of r and waits for each (each
// wait bounded by protoactor's 10 s stop future). Goroutine: stop's
// graceful part, before Shutdown(true).
func stopWatchers(system *actor.ActorSystem, r *remote.Remote) {
	pids, _ := endpointWatchers(r)
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = system.Root.StopFuture(pid)
	}
	for _, f := range futures {
		_ = f.Wait()
	}
}

// waitReaders waits until no inbound stream is listed, or readersDrainWait
// has passed. Goroutine: stop's, after Shutdown(false).
func waitReaders(r *remote.Remote) {
	m := readerConnections(r)
	if m == nil {
		return
	}
	for deadline := time.Now().Add(readersDrainWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		empty := true
		m.Range(func(any, any) bool { empty = false; return false })
		if empty {
			return
		}
	}
}

// registryBuckets is how many concurrent maps (32 shards each) the process
// registry of an actor system the runtime makes is spread over.
//
// protoactor makes 1024 of them (32,768 shard maps). A socket is one
// registry entry, and with that many maps nearly every socket lands in an
// empty one and pays for a fresh map group of its own; with 4 maps (128
// shards, each with its own lock) the entries share groups. Every lookup
// still takes one shard's read lock, and 128 shards keep that uncontended.
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
