package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// connection is one keep-alive connection of the pipelined mode: the pacer writes to it, its
// reader takes the answers. Request m (1-based, per connection) waits in pending[m % len(pending)]
// as intended time + 1 (0: free) until answered; a WebSocket ack names its message by seq, an HTTP
// answer is the oldest request's.
type connection struct {
	mu       sync.Mutex // the pacer while writing; the reader while replacing a broken connection
	conn     net.Conn
	written  atomic.Uint64 // requests written on this net.Conn (by the pacer, under mu)
	answered atomic.Uint64
	pending  []atomic.Int64
	broken   atomic.Bool
	tally
}

// runPipelined offers the load with many requests in flight per connection: WebSocket messages
// (acks carry seq) or, with -pipeline, HTTP/1.1 pipelining (µWebSockets.js closes a connection
// that pipelines a request behind one it has not answered yet, so not for the gateway).
func (g *generator) runPipelined() ([]*tally, *Histogram, error) {
	cfg := g.cfg
	perConn := cfg.maxOutstanding / cfg.connections
	var conns []*connection
	for i := 0; i < cfg.connections; i++ {
		conn, err := g.dial()
		if err != nil {
			for _, open := range conns {
				open.conn.Close()
			}
			return nil, nil, err
		}
		conns = append(conns, &connection{conn: conn, pending: make([]atomic.Int64, perConn), tally: newTally()})
	}
	g.start()
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go func(c *connection) {
			defer readers.Done()
			g.read(c)
		}(c)
	}
	lag := g.pace(conns)
	// Wait for the answers, then cut off what is left.
	deadline := g.deadline()
	for time.Now().Before(deadline) && outstanding(conns) > 0 {
		time.Sleep(time.Millisecond)
	}
	g.done.Store(true)
	for _, c := range conns {
		c.mu.Lock()
		c.conn.Close()
		c.mu.Unlock()
	}
	readers.Wait()
	tallies := make([]*tally, len(conns))
	for i, c := range conns {
		// Whatever is still pending was never answered.
		for j := range c.pending {
			if intended := c.pending[j].Swap(0); intended != 0 && intended-1 >= g.warmupNs {
				c.timedOut++
			}
		}
		tallies[i] = &c.tally
	}
	return tallies, lag, nil
}

func outstanding(conns []*connection) uint64 {
	var n uint64
	for _, c := range conns {
		c.mu.Lock()
		n += c.outstanding()
		c.mu.Unlock()
	}
	return n
}

// pace writes request k at its intended time (or as soon after as it can), every due request in
// one write on the next connection with room, until the schedule ends. Returns the send lags.
func (g *generator) pace(conns []*connection) *Histogram {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := g.cfg
	lag := NewHistogram()
	buf := make([]byte, 0, 1<<16)
	body := make([]byte, 0, 4096)
	var next int64
	turn := 0
	deadline := g.deadline()
	for next < g.total {
		if time.Now().After(deadline) {
			g.cutOff(next)
			break
		}
		now := g.now()
		due := g.dueBy(now)
		if due > next {
			c := pick(conns, &turn)
			if c != nil {
				room := int64(len(c.pending)) - int64(c.outstanding())
				end := due
				if end-next > room {
					end = next + room
				}
				buf = buf[:0]
				c.mu.Lock()
				conn := c.conn
				for k := next; k < end; k++ {
					slot := &c.pending[(c.written.Load()+1)%uint64(len(c.pending))]
					if slot.Load() != 0 {
						end = k // an older request still holds the slot (WebSocket acks may come out of order)
						break
					}
					slot.Store(g.intended(k) + 1)
					c.written.Add(1)
					body = g.body(body[:0], k)
					buf = g.frame(buf, body)
				}
				_, err := conn.Write(buf)
				c.mu.Unlock()
				if err != nil {
					// The reader sees the failure too, and counts the requests as errors.
					conn.Close()
				}
				written := now
				if after := g.now(); after > written {
					written = after
				}
				for k := next; k < end; k++ {
					if g.intended(k) >= g.warmupNs {
						lag.Record(written - g.intended(k))
						c.sent++
					}
				}
				next = end
				turn++
				if next < due {
					continue // more due than one connection had room for: try the next
				}
			}
		}
		wait := g.intended(next) - g.now()
		if wait < int64(cfg.tick) {
			wait = int64(cfg.tick)
		}
		sleep(wait)
	}
	return lag
}

// pick returns the next connection, in turn, with room for a request; nil when all are full.
func pick(conns []*connection, turn *int) *connection {
	for i := 0; i < len(conns); i++ {
		c := conns[(*turn+i)%len(conns)]
		if !c.broken.Load() && c.outstanding() < uint64(len(c.pending)) && c.pending[(c.written.Load()+1)%uint64(len(c.pending))].Load() == 0 {
			*turn += i
			return c
		}
	}
	return nil
}

func (c *connection) outstanding() uint64 { return c.written.Load() - c.answered.Load() }

// read takes the answers of one connection until the run is over, reconnecting after a failure
// (a server may close a connection after an error answer).
func (g *generator) read(c *connection) {
	for {
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		br := bufio.NewReaderSize(conn, 1<<16)
		err := g.readAnswers(c, br)
		if g.done.Load() {
			return
		}
		c.broken.Store(true)
		c.mu.Lock()
		conn.Close()
		for i := range c.pending {
			if intended := c.pending[i].Swap(0); intended != 0 && intended-1 >= g.warmupNs {
				c.failed(err)
			}
		}
		c.written.Store(0)
		c.answered.Store(0)
		for !g.done.Load() {
			fresh, dialErr := g.dial()
			if dialErr == nil {
				c.conn = fresh
				c.reconnect++
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.mu.Unlock()
		c.broken.Store(false)
		if g.done.Load() {
			return
		}
	}
}

func (g *generator) readAnswers(c *connection, br *bufio.Reader) error {
	for {
		var a answer
		var err error
		if g.cfg.mode == "ws" {
			a, err = readWsAck(br)
		} else {
			a, err = readHTTPResponse(br)
		}
		if err != nil {
			return err
		}
		if a.ping != nil {
			c.mu.Lock()
			_, _ = c.conn.Write(appendWsControl(nil, 0xA, a.ping))
			c.mu.Unlock()
			continue
		}
		now := g.now()
		var slot uint64
		if g.cfg.mode == "ws" {
			slot = a.seq
		} else {
			slot = c.answered.Load() + 1
		}
		intended := c.pending[slot%uint64(len(c.pending))].Swap(0) - 1
		if intended < 0 {
			return fmt.Errorf("an answer (%s) to no request in flight", a.outcome)
		}
		c.answered.Add(1)
		if intended >= g.warmupNs {
			c.hist.Record(now - intended)
			c.lastAnswer = now
			if a.outcome == "" {
				c.acked++
				if a.accepted >= 0 {
					c.events += uint64(a.accepted)
				} else {
					c.events += uint64(g.cfg.batch)
				}
			} else {
				c.refused[a.outcome]++
			}
		}
		if a.close {
			return errors.New("the server closed the connection after an answer")
		}
	}
}
