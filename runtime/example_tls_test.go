package runtime_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// A TLS echo server: the same handler as over TCP, with a *tls.Config in
// the listen options. The handshake runs off the event loops; the records
// are decrypted and encrypted on them.
func ExampleRuntime_Listen_tls() {
	cert, _ := tlsdemo.SelfSigned("example", "127.0.0.1") // a real server loads its own
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tls://127.0.0.1:0", actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			c.Write(m.Data) // plaintext in, plaintext out
		}
	}), actors.ListenOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	_ = rt.Start(context.Background())
	defer rt.Shutdown(context.Background())

	cl, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: tlsdemo.Pool(cert)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	cl.Write([]byte("hello over tls"))
	buf := make([]byte, 14)
	io.ReadFull(cl, buf)
	fmt.Println(string(buf), tls.VersionName(cl.ConnectionState().Version))
	// Output: hello over tls TLS 1.3
}
