package netio

import (
	"net/netip"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// udpPeer is the transport part of a UDP listener's peer: one remote
// address, served from the listener's descriptor. It has no gnet
// connection: its datagrams arrive through udpSide.OnTraffic (udp.go),
// its own go out with sendto on the listener's descriptor, and it lives in
// the descriptor's peer table (udppeers.go) until it is closed (endPeer)
// or idles out. Fields belong to the peer's loop unless noted.
type udpPeer struct {
	tbl  *peerTable     // immutable
	key  netip.AddrPort // immutable: the peer's address in tbl
	sa   unix.Sockaddr  // immutable: where its datagrams go
	seen uint32         // tbl.tick at the last datagram in or out
}

// peerOf returns c's peer part. Every Conn in a peer table is a peer
// (newPeer puts none other there).
func peerOf(c *Conn) *udpPeer { return c.t.(*udpPeer) }

// loop returns the loop of the peer's listening descriptor.
func (u *udpPeer) loop() gnet.EventLoop { return u.tbl.loop }

// write sends p to the peer as one datagram from the listener's
// descriptor.
func (u *udpPeer) write(c *Conn, p []byte) (int, error) {
	if err := c.datagramCheck(p); err != nil {
		return 0, err
	}
	err := unix.Sendto(u.tbl.fd, p, 0, u.sa)
	u.seen = u.tbl.tick
	return c.datagramSent(len(p), err)
}

// shutdownSend: UDP has no FIN (shutdownDatagram).
func (*udpPeer) shutdownSend(c *Conn) error { return c.shutdownDatagram() }

// close ends the peer: at once (endPeer), or as udpSide.OnTraffic returns
// when asked from inside its OnData.
func (u *udpPeer) close(c *Conn, r Reason) {
	if !c.beginClose(r) {
		return
	}
	if c.inTraffic {
		c.closeReq = true
		return
	}
	u.tbl.endPeer(c)
}

// shutdownRecv has nothing to do: the transport holds no datagram back,
// and what the layer above queued it drops itself, never with a reset
// (docs/SEMANTICS.md §6).
func (*udpPeer) shutdownRecv(*Conn, int) {}

// outboundBuffered is 0: a datagram is sent whole or refused, never queued.
func (*udpPeer) outboundBuffered() int { return 0 }

// maxDatagram is the largest UDP payload of the listener's address family.
func (u *udpPeer) maxDatagram(*Conn) int {
	if u.tbl.v6 {
		return maxDatagram6
	}
	return maxDatagram4
}

// takeError is OK: nothing leaves an asynchronous error for a peer (the
// listener's descriptor is not connected, so the kernel reports it no
// ICMP error).
func (*udpPeer) takeError() winsock.Code { return winsock.OK }

// onTraffic and onClose are never called: gnet has no connection of a
// peer (udpSide.OnTraffic reads for it, endPeer closes it).
func (*udpPeer) onTraffic(*Conn, gnet.Conn) gnet.Action      { return gnet.None }
func (*udpPeer) onClose(*Conn, gnet.Conn, error) gnet.Action { return gnet.None }
