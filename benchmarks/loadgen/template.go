package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is an event body with placeholders for the request's sequence number, so every event
// differs (ids, keys, timestamps): {{seq}}, {{seq%N}} (cycles through N values, e.g. card ids)
// and {{seq+N}} (e.g. a timestamp). Rendering appends to a caller's buffer without allocating.
type Template struct {
	literals []string // len(parts)+1: literal text around the placeholders
	parts    []placeholder
}

type placeholder struct {
	op      byte // 0: seq, '%': seq % n, '+': seq + n
	operand int64
}

func ParseTemplate(text string) (*Template, error) {
	t := &Template{}
	rest := text
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.literals = append(t.literals, rest)
			return t, nil
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("template: %q opens a placeholder that is not closed", rest[open:])
		}
		expr := strings.TrimSpace(rest[open+2 : open+end])
		p, err := parsePlaceholder(expr)
		if err != nil {
			return nil, err
		}
		t.literals = append(t.literals, rest[:open])
		t.parts = append(t.parts, p)
		rest = rest[open+end+2:]
	}
}

func parsePlaceholder(expr string) (placeholder, error) {
	if expr == "seq" {
		return placeholder{}, nil
	}
	if len(expr) > 4 && expr[:3] == "seq" && (expr[3] == '%' || expr[3] == '+') {
		n, err := strconv.ParseInt(strings.TrimSpace(expr[4:]), 10, 64)
		if err == nil && (expr[3] == '+' || n > 0) {
			return placeholder{op: expr[3], operand: n}, nil
		}
	}
	return placeholder{}, fmt.Errorf("template: unknown placeholder {{%s}}: expected {{seq}}, {{seq%%N}} (N > 0) or {{seq+N}}", expr)
}

// HasSeq says whether the template substitutes anything (if not, every event would be the same).
func (t *Template) HasSeq() bool { return len(t.parts) > 0 }

func (t *Template) Append(buf []byte, seq int64) []byte {
	for i, p := range t.parts {
		buf = append(buf, t.literals[i]...)
		switch p.op {
		case '%':
			buf = strconv.AppendInt(buf, seq%p.operand, 10)
		case '+':
			buf = strconv.AppendInt(buf, seq+p.operand, 10)
		default:
			buf = strconv.AppendInt(buf, seq, 10)
		}
	}
	return append(buf, t.literals[len(t.literals)-1]...)
}
