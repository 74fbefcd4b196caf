package runtime

import (
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	cmap "github.com/orcaman/concurrent-map"
)

// This file is the one place where package runtime relies on protoactor's
// internals (checked against github.com/asynkron/protoactor-go
// v0.0.0-20240822202345-3c0e61ca19c9, the version in go.mod). Each
// reliance has a test in protoactorinternal_test.go that fails if it
// breaks:
//
//   - readerConnections: remote's list of inbound streams, an unexported
//     field found by name and type (TestRemoteReaderList);
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
	if r == nil {
		return nil
	}
	v := reflect.ValueOf(r).Elem()
	em := v.FieldByName("edpManager")
	if !em.IsValid() || em.Kind() != reflect.Pointer || em.IsNil() {
		return nil
	}
	m := em.Elem().FieldByName("endpointReaderConnections")
	if !m.IsValid() || m.Type() != reflect.TypeOf((*sync.Map)(nil)) || m.IsNil() {
		return nil
	}
	return (*sync.Map)(unsafe.Pointer(m.Pointer()))
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
