package h1

import (
	"strconv"
	"sync/atomic"
	"time"
)

// ServerName is the Server header of every response.
const ServerName = "sockactor"

// StatusText returns the reason phrase of the status codes this package
// writes, "Unknown" for the others.
func StatusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	}
	return "Unknown"
}

// AppendResponse appends a response head to dst: the status line, Server,
// Date, Content-Type (when not empty), Content-Length, extra (whole header
// lines, each ending in CRLF, e.g. "Allow: GET\r\n"), "Connection: close"
// when closing or "Connection: keep-alive" when keepAlive (an HTTP/1.0
// client that asked for it), and the blank line. The body follows. It
// allocates nothing once dst has room.
func AppendResponse(dst []byte, status int, contentType, extra string, contentLength int, closing, keepAlive bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\nServer: "+ServerName+"\r\nDate: "...)
	dst = AppendDate(dst)
	if contentType != "" {
		dst = append(dst, "\r\nContent-Type: "...)
		dst = append(dst, contentType...)
	}
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(contentLength), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, extra...)
	switch {
	case closing:
		dst = append(dst, "Connection: close\r\n"...)
	case keepAlive:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// dateEntry is the Date header value of one second.
type dateEntry struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[dateEntry]

// AppendDate appends the current time in the IMF-fixdate format of the
// Date header ("Sun, 06 Nov 1994 08:49:37 GMT"). The text is made once
// per second and shared by every connection.
func AppendDate(dst []byte) []byte {
	now := time.Now().Unix()
	e := dateCache.Load()
	if e == nil || e.sec != now {
		e = &dateEntry{sec: now, b: time.Unix(now, 0).UTC().AppendFormat(make([]byte, 0, 29), "Mon, 02 Jan 2006 15:04:05 GMT")}
		dateCache.Store(e)
	}
	return append(dst, e.b...)
}
