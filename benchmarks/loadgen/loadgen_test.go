package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTemplate = `{"id":"p{{seq}}","card":"c{{seq%10}}","ts":{{seq+1700000000000}}}`

func config_(t *testing.T, args ...string) *config {
	t.Helper()
	cfg, err := parseFlags(append(args, "-template", testTemplate))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A server answering 200, 429 for every 7th event and closing the connection after every 11th
// answer: every request is answered once, counted by its status, with distinct ids.
func TestHTTPOffersTheRateAndCountsEveryAnswer(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]bool{}
	requests := 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var event struct{ ID string }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &event); err != nil || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Api-Key") != "k1" {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		dup := ids[event.ID]
		ids[event.ID] = true
		requests++
		n := requests
		mu.Unlock()
		if dup {
			w.WriteHeader(409)
			return
		}
		if n%11 == 0 {
			w.Header().Set("Connection", "close")
		}
		if n%7 == 0 {
			w.WriteHeader(429)
		}
		_, _ = w.Write([]byte(`{"partition":0,"offset":1}`))
	}))
	defer server.Close()
	cfg := config_(t, "-url", server.URL+"/streams/payments/events", "-rate", "2000", "-duration", "500ms",
		"-warmup", "100ms", "-connections", "8", "-header", "X-Api-Key: k1")
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 1000 || r.Errors != 0 || r.TimedOut != 0 {
		t.Fatalf("sent %d errors %d timed out %d (%s), want 1000 measured requests and no failure", r.Sent, r.Errors, r.TimedOut, r.FirstError)
	}
	if r.Acknowledged+r.Refused["429"] != r.Sent || r.Refused["429"] == 0 || len(r.Refused) != 1 {
		t.Fatalf("acknowledged %d refused %v: want every request answered 200 or 429", r.Acknowledged, r.Refused)
	}
	if r.Reconnects == 0 {
		t.Error("the server closed connections, but the generator never reconnected")
	}
	if len(ids) != 1200 {
		t.Errorf("the server saw %d distinct ids, want 1200 (warm-up included)", len(ids))
	}
	if r.Latency.Count != r.Sent || r.Latency.P50 == 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max < r.Latency.P999 {
		t.Errorf("latency %+v", r.Latency)
	}
	if r.AchievedRate < 1500 || r.AchievedRate > 2000 || r.CPUSeconds <= 0 {
		t.Errorf("achieved %.0f/s with %.3f CPU s", r.AchievedRate, r.CPUSeconds)
	}
}

// A server that stalls: latency counts from the intended send time, so it covers the stall.
func TestHTTPLatencyCountsFromTheIntendedTime(t *testing.T) {
	var once sync.Once
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		once.Do(func() { time.Sleep(200 * time.Millisecond) })
		_, _ = w.Write([]byte(`{}`))
	}))
	defer server.Close()
	// One connection: every request behind the stalled one waits for it.
	r, err := Run(config_(t, "-url", server.URL+"/e", "-rate", "500", "-duration", "400ms", "-connections", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Acknowledged != 200 {
		t.Fatalf("acknowledged %d of 200 (%+v)", r.Acknowledged, r)
	}
	// ~100 requests were due during the stall: with coordinated omission the p50 would be tiny.
	if r.Latency.Max < 190e6 || r.Latency.P90 < 100e6 {
		t.Errorf("latency %+v: the stall does not show", r.Latency)
	}
}

// A minimal WebSocket gateway: acks every message with its seq; every 5th (over all connections) is refused as
// RATE_LIMITED, and each pair of acks goes out in reverse order.
func TestWebSocketBatchesAreAckedBySeq(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	var mu sync.Mutex
	events := map[string]bool{}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go serveWs(t, conn, &mu, events)
		}
	}()
	r, err := Run(config_(t, "-url", "ws://"+listener.Addr().String()+"/streams/payments/ws", "-rate", "400",
		"-batch", "10", "-duration", "500ms", "-connections", "2"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.Errors != 0 || r.TimedOut != 0 {
		t.Fatalf("sent %d errors %d timed out %d (%s)", r.Sent, r.Errors, r.TimedOut, r.FirstError)
	}
	if r.Refused["RATE_LIMITED"] != 40 || r.Acknowledged != 160 || r.AcknowledgedEvents != 1600 {
		t.Fatalf("acknowledged %d (%d events), refused %v", r.Acknowledged, r.AcknowledgedEvents, r.Refused)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2000 {
		t.Errorf("the server saw %d distinct events, want 2000", len(events))
	}
}

// messages counts the WebSocket messages of all connections (under the test's mutex).
var messages int

func serveWs(t *testing.T, conn net.Conn, mu *sync.Mutex, events map[string]bool) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + wsGUID))
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	var held []byte
	for seq := 1; ; seq++ {
		var head [2]byte
		if held != nil {
			// A held ack goes out after the next message, or after 50 ms without one.
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		}
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if e, ok := err.(net.Error); ok && e.Timeout() && held != nil {
				_, _ = conn.Write(held)
				held = nil
				_ = conn.SetReadDeadline(time.Time{})
				seq--
				continue
			}
			return
		}
		_ = conn.SetReadDeadline(time.Time{})
		n := int(head[1] & 0x7f)
		if n == 126 {
			var ext [2]byte
			_, _ = io.ReadFull(br, ext[:])
			n = int(binary.BigEndian.Uint16(ext[:]))
		}
		var mask [4]byte
		_, _ = io.ReadFull(br, mask[:])
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
		var batch []struct{ ID string }
		if err := json.Unmarshal(payload, &batch); err != nil || head[0] != 0x81 || head[1]&0x80 == 0 {
			t.Errorf("message %d: %v %x %q", seq, err, head, payload)
			return
		}
		mu.Lock()
		for _, e := range batch {
			events[e.ID] = true
		}
		messages++
		refuse := messages%5 == 0
		mu.Unlock()
		ack := fmt.Sprintf(`{"seq":%d,"accepted":%d,"rejected":0,"results":[{"status":200,"partition":0,"offset":%d}]}`, seq, len(batch), seq)
		if refuse {
			ack = fmt.Sprintf(`{"seq":%d,"error_code":"RATE_LIMITED","message":"slow down"}`, seq)
		}
		frame := append([]byte{0x81, byte(len(ack))}, ack...)
		if len(ack) >= 126 {
			frame = append([]byte{0x81, 126, byte(len(ack) >> 8), byte(len(ack))}, ack...)
		}
		if seq%2 == 1 {
			held = frame // answered after the next one
			continue
		}
		_, _ = conn.Write(append(frame, held...))
		held = nil
	}
}

func TestFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "https://x/y"},
		{"-url", "http://127.0.0.1:1/e", "-rate", "0"},
		{"-url", "http://127.0.0.1:1/e", "-template", `{"a":1}`},
		{"-url", "http://127.0.0.1:1/e", "-header", "no colon"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
}

// A server too slow for the offered rate: the run still ends -drain-timeout after the schedule,
// the requests never released counted as not sent, the one cut off waiting as timed out.
func TestARunIsCutOffAfterTheDrainTimeout(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer server.Close()
	started := time.Now()
	r, err := Run(config_(t, "-url", server.URL+"/e", "-rate", "500", "-duration", "200ms", "-connections", "1",
		"-max-outstanding", "10", "-drain-timeout", "100ms"))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Errorf("the run took %v", elapsed)
	}
	if r.NotSent == 0 || r.Sent+r.NotSent != 100 || r.Acknowledged+r.TimedOut+r.Errors != r.Sent || r.TimedOut > 1 {
		t.Errorf("sent %d, not sent %d, acknowledged %d, timed out %d, errors %d", r.Sent, r.NotSent, r.Acknowledged, r.TimedOut, r.Errors)
	}
}
