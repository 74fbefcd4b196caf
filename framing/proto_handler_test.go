package framing_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/internal/socktest"
)

// TestDelimitedHandler runs a numbered echo of "\r\n\r\n"-delimited blocks
// on Delimited in both dispatch modes, the stream cut at awkward places
// (inside the delimiter too), with overlong blocks.
func TestDelimitedHandler(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		addr := serve(t, d, actors.HandlerFunc(func(c *actors.Context) {
			m, ok := c.Message().(*actors.Received)
			if !ok {
				return
			}
			type state struct {
				f   framing.Delimited
				n   int
				out []byte
			}
			st, _ := c.State().(*state)
			if st == nil {
				st = &state{f: framing.Delimited{Delim: []byte("\r\n\r\n"), Max: 200}}
				c.SetState(st)
			}
			for block, err := range st.f.Frames(m.Data) {
				st.n++
				st.out = fmt.Appendf(st.out[:0], "%d:", st.n)
				if err != nil {
					st.out = append(st.out, "too long"...)
				} else {
					st.out = append(st.out, bytes.ReplaceAll(block, []byte("\r\n"), []byte("|"))...)
				}
				_, _ = c.Write(append(st.out, '\n'))
			}
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var in, want bytes.Buffer
		for i := 1; i <= 200; i++ {
			switch {
			case i%40 == 0:
				in.WriteString(strings.Repeat("B", 150) + "\r\n" + strings.Repeat("C", 60) + "\r\n\r\n")
				fmt.Fprintf(&want, "%d:too long\n", i)
			case i%3 == 0:
				fmt.Fprintf(&in, "block %d\r\nline two\r\n\r\n", i)
				fmt.Fprintf(&want, "%d:block %d|line two\n", i, i)
			default:
				fmt.Fprintf(&in, "block %d\r\n\r\n", i)
				fmt.Fprintf(&want, "%d:block %d\n", i, i)
			}
		}
		writeCut(t, c, in.Bytes(), []int{1, 3, 17, 2, 64, 1, 300})
		if got := readN(t, c, want.Len()); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("echo:\n%s\nwant:\n%s", got, want.Bytes())
		}
	})
}

// respBulk appends a RESP bulk string.
func respBulk(dst []byte, s []byte) []byte {
	dst = append(strconv.AppendInt(append(dst, '$'), int64(len(s)), 10), "\r\n"...)
	return append(append(dst, s...), "\r\n"...)
}

// TestHeaderBodyHandler runs a RESP server on HeaderBody in both dispatch
// modes: each command (an array of bulk strings, some large, some holding
// "\r\n") is answered with its arguments joined and reversed, as a bulk
// string; the stream is cut anywhere.
func TestHeaderBodyHandler(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		addr := serve(t, d, actors.HandlerFunc(func(c *actors.Context) {
			m, ok := c.Message().(*actors.Received)
			if !ok {
				return
			}
			type state struct {
				f      framing.HeaderBody
				want   int
				got    int
				joined []byte
				out    []byte
			}
			st, _ := c.State().(*state)
			if st == nil {
				st = &state{f: framing.HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 1 << 16}}
				c.SetState(st)
			}
			for fr, err := range st.f.Frames(m.Data) {
				if err != nil {
					c.Abort()
					return
				}
				switch fr.Header[0] {
				case '*':
					st.want, _ = strconv.Atoi(string(fr.Header[1:]))
					st.got, st.joined = 0, st.joined[:0]
					continue
				case '$':
					st.joined = append(st.joined, fr.Body[:len(fr.Body)-2]...)
					st.got++
				}
				if st.got == st.want {
					j := st.joined
					for i, k := 0, len(j)-1; i < k; i, k = i+1, k-1 {
						j[i], j[k] = j[k], j[i]
					}
					st.out = respBulk(st.out[:0], j)
					_, _ = c.Write(st.out)
				}
			}
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var in, want []byte
		for i := range 150 {
			args := [][]byte{[]byte("CMD"), []byte(strconv.Itoa(i))}
			if i%5 == 0 {
				args = append(args, bytes.Repeat([]byte{byte('a' + i%26)}, (i*397)%20000))
			}
			if i%7 == 0 {
				args = append(args, []byte("with\r\ncrlf\r\n"))
			}
			in = fmt.Appendf(in, "*%d\r\n", len(args))
			var joined []byte
			for _, a := range args {
				in = respBulk(in, a)
				joined = append(joined, a...)
			}
			for i, k := 0, len(joined)-1; i < k; i, k = i+1, k-1 {
				joined[i], joined[k] = joined[k], joined[i]
			}
			want = respBulk(want, joined)
		}
		writeCut(t, c, in, []int{1, 2, 3, 700, 5, 4096, 1, 13})
		if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("replies differ (%d bytes)", len(got))
		}
	})
}
