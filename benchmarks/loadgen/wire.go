package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// answer is one response: outcome "" when every event was acknowledged, else the status or code.
type answer struct {
	outcome  string
	accepted int64 // events accepted, when the answer says (WebSocket); -1 otherwise
	seq      uint64
	close    bool
	ping     []byte
}

// readHTTPResponse parses one HTTP/1.1 response with a Content-Length body (as the gateway
// always answers) and skips its body.
func readHTTPResponse(br *bufio.Reader) (answer, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return answer{}, err
	}
	if len(line) < 12 || string(line[:5]) != "HTTP/" {
		return answer{}, fmt.Errorf("not an HTTP status line: %q", line)
	}
	status := parseLength(line[9:12])
	if status < 100 {
		return answer{}, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	a := answer{accepted: -1}
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return answer{}, err
		}
		if len(h) <= 2 {
			break
		}
		if colon := bytes.IndexByte(h, ':'); colon > 0 {
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, headerContentLength):
				length = parseLength(value)
				if length < 0 {
					return answer{}, fmt.Errorf("bad content-length %q", value)
				}
			case bytes.EqualFold(name, headerConnection):
				a.close = bytes.EqualFold(value, valueClose)
			case bytes.EqualFold(name, headerTransferEncoding):
				return answer{}, errors.New("a chunked response: the generator reads Content-Length bodies only")
			}
		}
	}
	if length < 0 {
		return answer{}, errors.New("a response without content-length")
	}
	if _, err := br.Discard(length); err != nil {
		return answer{}, err
	}
	if status != 200 {
		a.outcome = statusText(status)
	}
	return a, nil
}

var (
	headerContentLength    = []byte("content-length")
	headerConnection       = []byte("connection")
	headerTransferEncoding = []byte("transfer-encoding")
	valueClose             = []byte("close")
)

// parseLength parses a decimal Content-Length without allocating; -1 if it is not one.
func parseLength(b []byte) int {
	if len(b) == 0 || len(b) > 12 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// readWsAck reads server frames until an ack (a text message) and classifies it: the gateway's
// `{"seq":N,"accepted":A,"rejected":R,...}` (acknowledged when R is 0, else "207") or
// `{"seq":N,"error_code":"CODE",...}` (refused whole, by its code). Pings are handed back for a pong.
func readWsAck(br *bufio.Reader) (answer, error) {
	var message []byte
	for {
		var head [2]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return answer{}, err
		}
		opcode := head[0] & 0x0f
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return answer{}, err
			}
			n = uint64(ext[0])<<8 | uint64(ext[1])
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return answer{}, err
			}
			n = 0
			for _, b := range ext {
				n = n<<8 | uint64(b)
			}
		}
		if head[1]&0x80 != 0 || n > 1<<30 {
			return answer{}, errors.New("a masked or oversized server frame")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return answer{}, err
		}
		switch opcode {
		case 0x8:
			code := 0
			if len(payload) >= 2 {
				code = int(payload[0])<<8 | int(payload[1])
			}
			return answer{}, fmt.Errorf("the server closed the WebSocket with %d %s", code, payload[min(2, len(payload)):])
		case 0x9:
			return answer{ping: payload}, nil
		case 0xA:
			continue
		}
		message = append(message, payload...)
		if head[0]&0x80 != 0 {
			break
		}
	}
	a := answer{accepted: -1}
	seq, ok := jsonInt(message, `"seq":`)
	if !ok || seq < 1 {
		return answer{}, fmt.Errorf("an ack without seq: %.200s", message)
	}
	a.seq = uint64(seq)
	if accepted, ok := jsonInt(message, `"accepted":`); ok {
		rejected, _ := jsonInt(message, `"rejected":`)
		a.accepted = accepted
		if rejected != 0 {
			a.outcome = "207"
		}
		return a, nil
	}
	a.accepted = 0
	a.outcome = "refused"
	if at := strings.Index(string(message), `"error_code":"`); at >= 0 {
		rest := string(message[at+len(`"error_code":"`):])
		if end := strings.IndexByte(rest, '"'); end > 0 {
			a.outcome = rest[:end]
		}
	}
	return a, nil
}

// jsonInt finds the first `key` (e.g. `"seq":`) in a flat JSON text and parses the integer after it.
// The gateway's acks put seq, accepted and rejected before any nested result.
func jsonInt(text []byte, key string) (int64, bool) {
	at := strings.Index(string(text), key)
	if at < 0 {
		return 0, false
	}
	i := at + len(key)
	j := i
	for j < len(text) && text[j] >= '0' && text[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(text[i:j]), 10, 64)
	return n, err == nil
}

func appendWsControl(buf []byte, opcode byte, payload []byte) []byte {
	frame := appendWsFrame(buf, payload, 0x5a17c0de)
	frame[len(buf)] = 0x80 | opcode
	return frame
}

// dial opens a connection; for WebSocket, through the upgrade handshake.
func (g *generator) dial() (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", g.cfg.address, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if g.cfg.mode != "ws" {
		return conn, nil
	}
	if err := g.handshake(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (g *generator) handshake(conn net.Conn) error {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", g.cfg.path, g.cfg.host, key)
	for _, h := range g.cfg.headers {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return err
	}
	// Read the answer byte by byte up to its blank line, so no frame after it is swallowed.
	var head []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := conn.Read(one); err != nil {
			return fmt.Errorf("the WebSocket upgrade: %w", err)
		}
		head = append(head, one[0])
		if len(head) > 16384 {
			return errors.New("the WebSocket upgrade answer is too long")
		}
	}
	text := string(head)
	if !strings.HasPrefix(text, "HTTP/1.1 101") {
		return fmt.Errorf("the WebSocket upgrade was refused: %s", strings.SplitN(text, "\r\n", 2)[0])
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for _, line := range strings.Split(text, "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "sec-websocket-accept") {
			if strings.TrimSpace(value) == want {
				return nil
			}
		}
	}
	return errors.New("the WebSocket upgrade answer lacks the right Sec-WebSocket-Accept")
}

// statusText is the refusal key of an HTTP status ("429"), allocation-free for the common ones.
func statusText(status int) string {
	if status >= 100 && status < 600 {
		return statusTexts[status-100]
	}
	return strconv.Itoa(status)
}

var statusTexts = func() []string {
	texts := make([]string, 500)
	for i := range texts {
		texts[i] = strconv.Itoa(i + 100)
	}
	return texts
}()
