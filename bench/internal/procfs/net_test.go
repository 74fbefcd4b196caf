package procfs

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestProcAddr(t *testing.T) {
	got, ok := ProcAddr(netip.MustParseAddrPort("127.0.0.1:8080"))
	// Native-endian: little-endian machines print 127.0.0.1 reversed.
	if !ok || (got != "0100007F:1F90" && got != "7F000001:1F90") {
		t.Fatalf("ProcAddr = %q, %v", got, ok)
	}
	if _, ok := ProcAddr(netip.MustParseAddrPort("[::1]:80")); ok {
		t.Fatal("an IPv6 address has no /proc/net/tcp form")
	}
}

const tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1062 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0200007F:C350 01 00024000:00000000 01:00000014 00000000     0        0 2001 1 0000000000000000 20 4 30 10 -1
   2: 0200007F:C350 0100007F:1F90 01 00000000:00004000 00:00000000 00000000     0        0 2002 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0300007F:C351 01 00001000:00000000 01:00000014 00000000     0        0 2003 1 0000000000000000 20 4 30 10 -1
   4: 0300007F:C351 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2004 1 0000000000000000 20 4 30 10 -1
   5: 0100007F:1F91 0200007F:C352 01 00FFFFFF:00000000 00:00000000 00000000     0        0 2005 1 0000000000000000 20 4 30 10 -1
   6: 0200007F:C353 0100007F:1F90 06 00000000:00000000 03:00000014 00000000     0        0 0 3 0000000000000000
`

func TestParseTCPQueues(t *testing.T) {
	q, err := ParseTCPQueues([]byte(tcpTable), "0100007F:1F90")
	if err != nil {
		t.Fatal(err)
	}
	// The listener (0A), the other port and the TIME_WAIT line (06) are
	// not counted.
	want := TCPQueues{ServerConns: 2, ServerTx: 0x24000 + 0x1000, PeerConns: 2, PeerRx: 0x4000, PeerNonEmpty: 1}
	if q != want {
		t.Fatalf("queues %+v, want %+v", q, want)
	}
	if _, err := ParseTCPQueues([]byte("header\n 0: 0100007F:1F90 0200007F:C350 01 zz:00 x\n"), "0100007F:1F90"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad queue column: err = %v", err)
	}
}

const udpTable = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:3039 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 3001 2 0000000000000000 5
  101: 0100007F:3039 00000000:0000 07 00000000:00000900 00:00000000 00000000     0        0 3002 2 0000000000000000 0
  102: 0100007F:303A 00000000:0000 07 00000000:00010000 00:00000000 00000000     0        0 3003 2 0000000000000000 9
`

func TestParseUDPQueues(t *testing.T) {
	q, err := ParseUDPQueues([]byte(udpTable), "0100007F:3039")
	if err != nil {
		t.Fatal(err)
	}
	if want := (UDPQueues{Sockets: 2, Rx: 0xC00, MaxRx: 0x900, Drops: 5}); q != want {
		t.Fatalf("queues %+v, want %+v", q, want)
	}
}

// TestReadTCPQueuesLive reads the kernel's own table: bytes written on a
// loopback connection and not read show as the server's tx_queue and the
// peer's rx_queue.
func TestReadTCPQueuesLive(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	server, ok := ProcAddr(netip.MustParseAddrPort(ln.Addr().String()))
	if !ok {
		t.Fatal("no /proc form for", ln.Addr())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := ReadTCPQueues(server)
		if err != nil {
			t.Fatal(err)
		}
		if q.ServerConns == 1 && q.PeerConns == 1 && q.PeerRx == 1000 && q.PeerNonEmpty == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues %+v: want one connection each side, 1000 bytes unread by the peer", q)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
