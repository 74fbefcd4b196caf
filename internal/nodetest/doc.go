// Package nodetest holds the tests of sockactor across nodes
// (docs/SEMANTICS.md §7): two runtimes with remote on loopback in one
// process, each on an actor system of the node pool that TestMain starts.
//
// The pool exists because protoactor's remote.Start writes gRPC's
// process-wide logger without synchronization: every remote of a process
// is started before any of them carries traffic (runtime.StartRemote
// orders the starts themselves), so the race detector has nothing to
// report. A remote started after traffic would race with gRPC's goroutines.
package nodetest
