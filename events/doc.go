// Package events is sockactor's Winsock-style notification model
// (docs/SEMANTICS.md §4). A Kind is one FD_* notification (FD_READ, FD_WRITE,
// FD_OOB, FD_ACCEPT, FD_CONNECT, FD_CLOSE) and keeps Winsock's bit value, so
// a Mask reads the same as a WSAAsyncSelect lEvent; MaskOf, Mask.Has and
// ParseKind build and test them. Event is the protobuf message every
// notification travels in, so it reaches remote subscribers unchanged: it
// carries the kind, the socket's id and PID, the Winsock code, the close
// reason, whether this side closed, the addresses and the time.
//
// The Hub delivers events to subscribers, which are actor PIDs, local or
// remote: the runtime-wide subscriptions it holds (a copy-on-write list, so
// Publish reads it with one atomic load and never takes a lock) and a
// per-socket Subs list that the caller owns and passes in. Each subscriber
// gets an event at most once even when it is subscribed both runtime-wide and
// per socket; delivery only enqueues, so a slow subscriber never blocks an
// event loop. A subscriber found dead at delivery is dropped, from the
// runtime-wide list or from the per-socket list Publish returns, and the
// others still get the event; runtime-wide subscribers are also watched and
// dropped as soon as they stop. A remote subscriber is watched too, per
// socket as well (Hub.Watch), and dropped from every list once protoactor
// reports it stopped or its node lost.
//
// Resync (docs/SEMANTICS.md §7): Publish stamps every event with a
// runtime-wide seq, one more per event; with EnableSnapshots the hub keeps
// the table of open sockets, and Snapshot lists it with the seq it
// reflects while subscribing its requester in the same instant, so the
// requester gets exactly the events after that seq (SnapshotRequest and
// Snapshot are the protobuf messages). The package knows PIDs, not
// transports: it imports nothing of netio or gnet.
package events
