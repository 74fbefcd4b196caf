// Package fleet makes a set of sockactor gateways a fleet: each runtime
// registers itself in etcd under a key prefix with a lease it keeps alive
// (Register, or runtime.Options.Fleet), and a Watcher follows every
// gateway of the prefix: it snapshots each gateway's node actor when it
// joins and follows its events with the exact resync of docs/SEMANTICS.md
// §7, reports a gateway's sockets gone when its lease ends (it left, died,
// or hung past its TTL), takes a new incarnation on the same address as a
// restart, and follows a gateway again when it registers again.
//
// The package links only the etcd client (go.etcd.io/etcd/client/v3);
// package fleet/embedetcd runs an etcd server in the process for tests and
// demos. Every exported type documents its goroutine safety; Close methods
// are idempotent and take a context; errors are the named ones below,
// matched with errors.Is.
package fleet
