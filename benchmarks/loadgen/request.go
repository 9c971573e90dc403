package main

import "strconv"

func (g *generator) body(buf []byte, k int64) []byte {
	if g.cfg.batch == 1 {
		return g.cfg.template.Append(buf, k)
	}
	buf = append(buf, '[')
	for i := 0; i < g.cfg.batch; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = g.cfg.template.Append(buf, k*int64(g.cfg.batch)+int64(i))
	}
	return append(buf, ']')
}

// frame appends one request carrying body: an HTTP POST, or a masked WebSocket text frame.
func (g *generator) frame(buf, body []byte) []byte {
	if g.cfg.mode == "ws" {
		return appendWsFrame(buf, body, uint32(len(buf))*2654435761+uint32(len(body)))
	}
	buf = append(buf, "POST "...)
	buf = append(buf, g.cfg.path...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, g.cfg.host...)
	buf = append(buf, "\r\nContent-Type: application/json\r\n"...)
	for _, h := range g.cfg.headers {
		buf = append(buf, h...)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "Content-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...)
}

// appendWsFrame appends a client text frame (FIN, opcode 1), masked as RFC 6455 requires.
func appendWsFrame(buf, payload []byte, mask uint32) []byte {
	buf = append(buf, 0x81)
	n := len(payload)
	switch {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n < 1<<16:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	key := [4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)}
	buf = append(buf, key[:]...)
	for i, b := range payload {
		buf = append(buf, b^key[i&3])
	}
	return buf
}
