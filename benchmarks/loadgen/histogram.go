package main

import (
	"math"
	"math/bits"
)

// Histogram is a log-linear (HDR-style) histogram of non-negative integers (here nanoseconds):
// values below 2^precisionBits are counted exactly, larger ones in buckets of 2^(precisionBits-1)
// linear steps per power of two, so any recorded value is known to within 1/128 of itself
// (< 0.8%) with 7,424 counters for the whole uint64 range. Recording is two shifts and an
// increment; one histogram per goroutine, merged at the end, needs no locks.
type Histogram struct {
	counts []uint64
	total  uint64
	min    uint64
	max    uint64
	sum    float64
}

const precisionBits = 8
const halfBucket = 1 << (precisionBits - 1)

// bucketCount covers values up to 2^64-1: shifts 0 … 64-precisionBits.
const bucketCount = (64-precisionBits+1)*halfBucket + halfBucket

func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, bucketCount), min: math.MaxUint64}
}

// bucketOf returns the counter index of v: v itself below 2^precisionBits, else the shift that
// leaves v's top precisionBits bits (top in [2^(p-1), 2^p)) and those bits.
func bucketOf(v uint64) int {
	if v < 1<<precisionBits {
		return int(v)
	}
	shift := bits.Len64(v) - precisionBits
	top := v >> uint(shift)
	return shift*halfBucket + int(top)
}

// bucketRange returns the smallest and largest value counted in bucket i.
func bucketRange(i int) (uint64, uint64) {
	if i < 1<<precisionBits {
		return uint64(i), uint64(i)
	}
	shift := i/halfBucket - 1
	top := uint64(i - shift*halfBucket)
	low := top << uint(shift)
	return low, low + (uint64(1) << uint(shift)) - 1
}

func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[bucketOf(u)]++
	h.total++
	h.sum += float64(u)
	if u < h.min {
		h.min = u
	}
	if u > h.max {
		h.max = u
	}
}

func (h *Histogram) Merge(other *Histogram) {
	for i, c := range other.counts {
		h.counts[i] += c
	}
	h.total += other.total
	h.sum += other.sum
	if other.total > 0 {
		if other.min < h.min {
			h.min = other.min
		}
		if other.max > h.max {
			h.max = other.max
		}
	}
}

func (h *Histogram) Count() uint64 { return h.total }

// Max is exact (not a bucket bound).
func (h *Histogram) Max() uint64 {
	if h.total == 0 {
		return 0
	}
	return h.max
}

func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Percentile returns the nearest-rank q-quantile (q in [0, 1]) as the largest value of its bucket,
// so it never understates a latency, capped at the exact maximum; 0 when empty.
func (h *Histogram) Percentile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, high := bucketRange(i)
			if high > h.max {
				return h.max
			}
			return high
		}
	}
	return h.max
}

// Summary is the histogram as the generator's JSON prints it (nanoseconds).
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   uint64  `json:"p50"`
	P90   uint64  `json:"p90"`
	P99   uint64  `json:"p99"`
	P999  uint64  `json:"p999"`
	Max   uint64  `json:"max"`
}

func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.total,
		Mean:  math.Round(h.Mean()),
		P50:   h.Percentile(0.5),
		P90:   h.Percentile(0.9),
		P99:   h.Percentile(0.99),
		P999:  h.Percentile(0.999),
		Max:   h.Max(),
	}
}
