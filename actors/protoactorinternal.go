package actors

import "github.com/asynkron/protoactor-go/actor"

// This file is the one place where package actors relies on protoactor's
// internals (checked against github.com/asynkron/protoactor-go
// v0.0.0-20240822202345-3c0e61ca19c9, the version in go.mod): the process
// registry's layout. A socket is registered by writing the registry's
// concurrent map for its key (actor.SliceMap.GetBucket) instead of calling
// ProcessRegistry.Add, which would allocate a PID the socket may never
// need (see socket.PID). That holds as long as ProcessRegistry.Get looks a
// local PID up in the same bucket, which TestRegistryDirectWrite checks.
// Package runtime's reliances are in its own protoactorinternal.go.

// register puts p in the system's process registry under key. Any
// goroutine.
func (h *host) register(p actor.Process, key string) {
	h.system.ProcessRegistry.LocalPIDs.GetBucket(key).SetIfAbsent(key, p)
}

// unregister removes key from the registry. Any goroutine.
func (h *host) unregister(key string) {
	h.system.ProcessRegistry.LocalPIDs.GetBucket(key).Remove(key)
}
