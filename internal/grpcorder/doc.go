// Package grpcorder orders the one unsynchronized write of gRPC state that
// protoactor's remote makes, its process-wide logger set at every
// remote.Start, with the reads of that logger by every gRPC goroutine of
// the process: the servers of remotes started before (barrier.go) and
// the clients of remote nodes and of etcd (client.go). Without it, a
// process that starts a second remote after gRPC traffic has a data race
// that the race detector reports, and a test binary that starts many
// nodes one after the other fails under -race.
//
// Users are runtime (Start and ServerCreds around remote.Start, DialOption
// for the nodes' clients) and fleet (DialOption for its etcd client).
// Nothing here knows actors or sockets: it knows gRPC's credentials and
// dialers, and one mutex.
package grpcorder
