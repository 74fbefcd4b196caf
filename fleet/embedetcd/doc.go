// Package embedetcd runs a single-member etcd server inside the process,
// on loopback, for the tests, the examples and a demo of package fleet:
// nothing to install, a data directory of the caller's choosing, ports
// picked free unless given.
//
// It is the one package of sockactor that links the etcd server
// (go.etcd.io/etcd/server/v3/embed); package fleet links only the etcd
// client, so an application that points fleet at its own etcd cluster
// never links the server. A Server is not meant for production: one
// member, no TLS, no authentication.
package embedetcd
