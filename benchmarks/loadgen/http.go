package main

import (
	"bufio"
	"net"
	"runtime"
	"sync"
	"time"
)

// worker is one HTTP connection with at most one request in flight: it takes the next due
// request from the pacer's queue, writes it, reads its answer, and so on.
type worker struct {
	mu   sync.Mutex // guards conn against the cut-off at the end of the run
	conn net.Conn
	tally
}

// runOnePerConnection offers HTTP requests with one in flight per connection, as browsers and
// most clients do (µWebSockets.js closes a connection that pipelines a request behind one not yet
// answered). A request waits in the queue while every connection is busy; its latency still counts
// from its intended time. So the number of connections must cover rate × latency.
func (g *generator) runOnePerConnection() ([]*tally, *Histogram, error) {
	cfg := g.cfg
	workers := make([]*worker, cfg.connections)
	for i := range workers {
		conn, err := g.dial()
		if err != nil {
			for _, w := range workers[:i] {
				w.conn.Close()
			}
			return nil, nil, err
		}
		workers[i] = &worker{conn: conn, tally: newTally()}
	}
	queue := make(chan int64, cfg.maxOutstanding)
	g.start()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			g.work(w, queue)
		}(w)
	}
	g.schedule(queue)
	close(queue)
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(time.Until(g.deadline())):
		// Cut off the requests still waiting: their reads fail, and the rest of the queue is counted.
		g.done.Store(true)
		for _, w := range workers {
			w.mu.Lock()
			w.conn.Close()
			w.mu.Unlock()
		}
		<-finished
	}
	tallies := make([]*tally, len(workers))
	for i, w := range workers {
		w.mu.Lock()
		w.conn.Close()
		w.mu.Unlock()
		tallies[i] = &w.tally
	}
	return tallies, NewHistogram(), nil
}

// schedule puts request k in the queue at its intended time (or as soon after as the queue has
// room), waking at most every -tick, until the deadline.
func (g *generator) schedule(queue chan<- int64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	deadline := g.deadline()
	var next int64
	for next < g.total {
		if time.Now().After(deadline) {
			g.cutOff(next)
			return
		}
		due := g.dueBy(g.now())
	fill:
		for ; next < due; next++ {
			select {
			case queue <- next:
			default:
				break fill // every connection busy and the queue full: the lag will show it
			}
		}
		if next >= g.total {
			return
		}
		wait := g.intended(next) - g.now()
		if wait < int64(g.cfg.tick) {
			wait = int64(g.cfg.tick)
		}
		sleep(wait)
	}
}

func (g *generator) work(w *worker, queue <-chan int64) {
	br := bufio.NewReaderSize(w.conn, 16<<10)
	buf := make([]byte, 0, 4096)
	body := make([]byte, 0, 4096)
	for k := range queue {
		intended := g.intended(k)
		measured := intended >= g.warmupNs
		if g.done.Load() {
			if measured {
				w.notSent++ // released by the pacer, but cut off before a connection was free
			}
			continue
		}
		body = g.body(body[:0], k)
		buf = g.frame(buf[:0], body)
		if measured {
			w.lag.Record(g.now() - intended)
			w.sent++
		}
		_, err := w.conn.Write(buf)
		var a answer
		if err == nil {
			a, err = readHTTPResponse(br)
		}
		if err != nil {
			if measured {
				if g.done.Load() {
					w.timedOut++
				} else {
					w.failed(err)
				}
			}
			g.redial(w, br)
			continue
		}
		w.answered(g, a, intended, g.now())
		if a.close {
			g.redial(w, br)
		}
	}
}

// redial replaces the worker's connection (the server closed it, or it failed), retrying until
// it succeeds or the run is cut off.
func (g *generator) redial(w *worker, br *bufio.Reader) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn.Close()
	for !g.done.Load() {
		conn, err := g.dial()
		if err == nil {
			w.conn = conn
			w.reconnect++
			br.Reset(conn)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
