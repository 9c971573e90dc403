// Command loadgen is an open-loop load generator for the Sluice event gateway (issue 16): it offers
// a fixed rate of HTTP requests (one event, or a JSON array of -batch events) or WebSocket
// messages (-batch events each, one ack per message) over -connections keep-alive connections,
// and measures each answer's latency from the request's INTENDED send time (origin + k/rate), so a
// stall of the server shows in the figures instead of slowing the generator down (coordinated
// omission). It prints one JSON object: counts, latency percentiles (ns), the rate achieved and
// its own CPU seconds (getrusage), so a report can show whether the generator was the bottleneck.
//
//	loadgen -url http://127.0.0.1:8080/streams/payments/events -rate 100000 -duration 10s \
//	  -template '{"id":"p{{seq}}","card":"c{{seq%10000}}","amount":12.5,"currency":"EUR","ts":{{seq+1700000000000}}}'
//
// It is written in Go (standard library only, so it builds offline) because a Node.js driver
// spends more CPU per request than the gateway does. It does not use net/http (too much work per
// request): requests are hand-written HTTP/1.1 or WebSocket frames, answers are read by a minimal
// parser, and one pacer goroutine on its own OS thread wakes at most every -tick with nanosleep
// (Go's timers can be a millisecond late when the process is idle) to release what has come due.
//
//   - HTTP: one request in flight per connection, as µWebSockets.js requires (it closes a
//     connection on which a request arrives before the one ahead of it is answered); the pacer
//     queues due requests and each connection's worker takes the next one when it is free, so
//     -connections must cover rate × latency (Little's law). -pipeline pipelines instead.
//   - WebSocket: the pacer writes every due message in one write on the next connection in turn;
//     one reader per connection matches the acks to their messages by seq.
//
// Each worker or reader records into its own histogram (histogram.go), merged at the end. The
// generator's own delay shows in "sendLagNs" (intended → written; for HTTP it includes waiting
// for a free connection).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	mode           string // "http" or "ws"
	address        string // host:port
	host           string // Host header
	path           string
	rate           float64 // requests (messages) per second
	batch          int     // events per request
	duration       time.Duration
	warmup         time.Duration
	drainTimeout   time.Duration
	connections    int
	maxOutstanding int
	tick           time.Duration
	cpuProfile     string
	pipeline       bool // HTTP: pipeline requests instead of one in flight per connection
	template       *Template
	headers        []string
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	result, err := Run(cfg)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	_ = out.Encode(result)
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	target := fs.String("url", "", "http://HOST:PORT/PATH (HTTP POSTs) or ws://HOST:PORT/PATH (WebSocket messages)")
	rate := fs.Float64("rate", 1000, "requests (WebSocket: messages) per second offered")
	batch := fs.Int("batch", 1, "events per request: 1 posts one event, more a JSON array")
	duration := fs.Duration("duration", 5*time.Second, "how long the measured load lasts")
	warmup := fs.Duration("warmup", 0, "load at the same rate before the measurement, not counted")
	drain := fs.Duration("drain-timeout", 10*time.Second, "how long after the schedule's end requests may still be sent and answered; then the rest count as not sent or timed out")
	connections := fs.Int("connections", 4, "keep-alive connections (HTTP without -pipeline: one request in flight on each, so rate × latency of them are needed)")
	outstanding := fs.Int("max-outstanding", 100_000, "requests waiting for answers, at most, over all connections (beyond: the generator waits, and sendLag shows it)")
	tick := fs.Duration("tick", 50*time.Microsecond, "the pacer sleeps at least this long between writes")
	pipeline := fs.Bool("pipeline", false, "HTTP: pipeline requests on each connection (the gateway's µWebSockets.js does not allow it)")
	tpl := fs.String("template", `{"id":"e{{seq}}"}`, "an event's JSON; {{seq}}, {{seq%N}}, {{seq+N}} are replaced by its sequence number")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile (go tool pprof) to this file")
	var headers headerList
	fs.Var(&headers, "header", "an extra request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "ws") {
		return nil, fmt.Errorf("-url %q: expected http://HOST:PORT/PATH or ws://HOST:PORT/PATH (no TLS)", *target)
	}
	t, err := ParseTemplate(*tpl)
	if err != nil {
		return nil, err
	}
	if !t.HasSeq() {
		return nil, errors.New("-template has no {{seq}}: every event would be the same")
	}
	for _, h := range headers {
		if !strings.Contains(h, ":") || strings.ContainsAny(h, "\r\n") {
			return nil, fmt.Errorf("-header %q: expected 'Name: value'", h)
		}
	}
	if *rate <= 0 || *batch < 1 || *connections < 1 || *outstanding < *connections || *duration <= 0 || *tick <= 0 {
		return nil, errors.New("-rate, -batch, -connections, -duration and -tick must be positive, -max-outstanding at least -connections")
	}
	address := u.Host
	if u.Port() == "" {
		address = net.JoinHostPort(u.Hostname(), "80")
	}
	mode := "http"
	if u.Scheme == "ws" {
		mode = "ws"
	}
	path := u.RequestURI()
	return &config{
		mode: mode, address: address, host: u.Host, path: path, rate: *rate, batch: *batch,
		duration: *duration, warmup: *warmup, drainTimeout: *drain, connections: *connections,
		maxOutstanding: *outstanding, tick: *tick, pipeline: *pipeline, cpuProfile: *cpuProfile, template: t, headers: headers,
	}, nil
}

// Result is what the generator prints. Counts and latencies cover the measured requests only
// (intended after the warm-up); latencies are nanoseconds.
type Result struct {
	Mode             string  `json:"mode"`
	URL              string  `json:"url"`
	OfferedRate      float64 `json:"offeredRate"`
	EventsPerRequest int     `json:"eventsPerRequest"`
	DurationSeconds  float64 `json:"durationSeconds"`
	WarmupSeconds    float64 `json:"warmupSeconds"`
	Connections      int     `json:"connections"`
	Sent             uint64  `json:"sent"`
	// Requests answered 2xx with every event accepted (HTTP 200, or a WebSocket ack with rejected 0).
	Acknowledged       uint64 `json:"acknowledged"`
	AcknowledgedEvents uint64 `json:"acknowledgedEvents"`
	// Answered requests that were not acknowledged, by HTTP status or WebSocket error code
	// ("207": a batch with some events rejected).
	Refused map[string]uint64 `json:"refused"`
	// Requests whose connection failed before an answer, or that were never answered in time.
	Errors   uint64 `json:"errors"`
	TimedOut uint64 `json:"timedOut"`
	// Requests still waiting to be sent when the run was cut off (-drain-timeout after the
	// schedule's end): the server took too few for the generator to send them all.
	NotSent uint64 `json:"notSent"`
	// Intended send time → answer (coordinated omission corrected), every answered request.
	Latency Summary `json:"latencyNs"`
	// Intended send time → written to the socket: the generator's own lateness.
	SendLag Summary `json:"sendLagNs"`
	// Acknowledged requests (events) per second of the measured window.
	AchievedRate         float64 `json:"achievedRate"`
	AchievedEventsPerSec float64 `json:"achievedEventsPerSecond"`
	CPUSeconds           float64 `json:"cpuSeconds"`
	UserCPUSeconds       float64 `json:"userCpuSeconds"`
	SystemCPUSeconds     float64 `json:"systemCpuSeconds"`
	Reconnects           uint64  `json:"reconnects"`
	FirstError           string  `json:"firstError,omitempty"`
}

// tally is what one reader (or HTTP worker) counted; merged at the end.
type tally struct {
	hist       *Histogram
	lag        *Histogram
	refused    map[string]uint64
	sent       uint64
	acked      uint64
	events     uint64
	errors     uint64
	timedOut   uint64
	notSent    uint64
	reconnect  uint64
	firstErr   string
	lastAnswer int64
}

func newTally() tally {
	return tally{hist: NewHistogram(), lag: NewHistogram(), refused: map[string]uint64{}}
}

// answered counts answer a to a request intended at `intended` (ns since the origin), taken at now.
func (t *tally) answered(g *generator, a answer, intended, now int64) {
	if intended < g.warmupNs {
		return
	}
	t.hist.Record(now - intended)
	t.lastAnswer = now
	if a.outcome != "" {
		t.refused[a.outcome]++
		return
	}
	t.acked++
	if a.accepted >= 0 {
		t.events += uint64(a.accepted)
	} else {
		t.events += uint64(g.cfg.batch)
	}
}

// failed counts a measured request whose connection failed before its answer.
func (t *tally) failed(err error) {
	t.errors++
	if t.firstErr == "" && err != nil {
		t.firstErr = err.Error()
	}
}

type generator struct {
	cfg      *config
	origin   time.Time
	warmupNs int64
	total    int64 // requests in the schedule, warm-up included
	done     atomic.Bool
	notSent  uint64 // measured requests the pacer never released (cut off)
	cpu      syscall.Rusage
}

// deadline is when the run is cut off: -drain-timeout after the last request's intended time.
func (g *generator) deadline() time.Time {
	return g.origin.Add(time.Duration(g.intended(g.total-1)) + g.cfg.drainTimeout)
}

// cutOff counts the measured requests from next on as never sent.
func (g *generator) cutOff(next int64) {
	for k := next; k < g.total; k++ {
		if g.intended(k) >= g.warmupNs {
			g.notSent++
		}
	}
}

// start fixes the schedule's origin, once every connection is open.
func (g *generator) start() {
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &g.cpu)
	g.origin = time.Now()
}

func (g *generator) now() int64 { return int64(time.Since(g.origin)) }

// intended is request k's send time, ns after the origin.
func (g *generator) intended(k int64) int64 { return int64(float64(k) * 1e9 / g.cfg.rate) }

// dueBy is how many requests are due at t (ns after the origin).
func (g *generator) dueBy(t int64) int64 {
	due := int64(float64(t)*g.cfg.rate/1e9) + 1
	if due > g.total {
		return g.total
	}
	return due
}

// sleep blocks the calling OS thread for ns: nanosleep wakes within tens of microseconds where
// Go's timers may take a millisecond.
func sleep(ns int64) {
	ts := syscall.NsecToTimespec(ns)
	_ = syscall.Nanosleep(&ts, nil)
}

// Run offers the load and gathers the result.
func Run(cfg *config) (*Result, error) {
	g := &generator{
		cfg:      cfg,
		warmupNs: int64(cfg.warmup),
		total:    int64(cfg.rate * (cfg.warmup + cfg.duration).Seconds()),
	}
	if g.total < 1 {
		g.total = 1
	}
	var tallies []*tally
	var lag *Histogram
	var err error
	if cfg.mode == "http" && !cfg.pipeline {
		tallies, lag, err = g.runOnePerConnection()
	} else {
		tallies, lag, err = g.runPipelined()
	}
	if err != nil {
		return nil, err
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)

	r := &Result{
		Mode: cfg.mode, URL: cfg.mode + "://" + cfg.host + cfg.path, OfferedRate: cfg.rate,
		EventsPerRequest: cfg.batch, DurationSeconds: cfg.duration.Seconds(), WarmupSeconds: cfg.warmup.Seconds(),
		Connections: cfg.connections, Refused: map[string]uint64{},
	}
	all := NewHistogram()
	var last int64
	for _, t := range tallies {
		all.Merge(t.hist)
		lag.Merge(t.lag)
		for k, v := range t.refused {
			r.Refused[k] += v
		}
		r.Sent += t.sent
		r.Acknowledged += t.acked
		r.AcknowledgedEvents += t.events
		r.Errors += t.errors
		r.TimedOut += t.timedOut
		r.NotSent += t.notSent
		r.Reconnects += t.reconnect
		if r.FirstError == "" {
			r.FirstError = t.firstErr
		}
		if t.lastAnswer > last {
			last = t.lastAnswer
		}
	}
	r.NotSent += g.notSent
	r.Latency = all.Summary()
	r.SendLag = lag.Summary()
	window := float64(last-g.warmupNs) / 1e9
	if window < cfg.duration.Seconds() {
		window = cfg.duration.Seconds()
	}
	r.AchievedRate = float64(r.Acknowledged) / window
	r.AchievedEventsPerSec = float64(r.AcknowledgedEvents) / window
	user := time.Duration(syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(g.cpu.Utime))
	system := time.Duration(syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(g.cpu.Stime))
	r.UserCPUSeconds, r.SystemCPUSeconds = user.Seconds(), system.Seconds()
	r.CPUSeconds = r.UserCPUSeconds + r.SystemCPUSeconds
	return r, nil
}
