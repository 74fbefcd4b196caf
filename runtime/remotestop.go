package runtime

import (
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/remote"
)

// Why remote's stop reaches into protoactor: Remote.Shutdown(true) sends a
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
// fails loudly.

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
