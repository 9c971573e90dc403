package main

import (
	"math/rand"
	"sort"
	"testing"
)

func TestBucketsAreContiguousAndTight(t *testing.T) {
	// Every bucket starts right after the previous one ends, and holds values within 1/128 of each other.
	var next uint64
	for i := 0; i < bucketCount; i++ {
		low, high := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		if high < low || float64(high-low) > float64(low)/halfBucket {
			t.Fatalf("bucket %d is [%d, %d]: wider than 1/%d of its start", i, low, high, halfBucket)
		}
		if bucketOf(low) != i || bucketOf(high) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, low, bucketOf(low), high, bucketOf(high))
		}
		if high == ^uint64(0) {
			if i != bucketCount-1 {
				t.Fatalf("the uint64 range ends in bucket %d of %d", i, bucketCount)
			}
			return
		}
		next = high + 1
	}
	t.Fatalf("the buckets end at %d, before the uint64 range does", next)
}

func TestPercentilesAgreeWithSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	h := NewHistogram()
	samples := make([]int64, 100_000)
	for i := range samples {
		// Log-normal-ish latencies from 1 µs to ~1 s.
		v := int64(float64(int64(1000)<<uint(rng.Intn(20))) * (1 + rng.Float64()))
		samples[i] = v
		h.Record(v)
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(float64(len(samples))*q+0.999999) - 1
		want := samples[rank]
		got := int64(h.Percentile(q))
		if got < want || float64(got-want) > float64(want)/halfBucket {
			t.Errorf("p%v = %d, want %d within %.2f%% above", q*100, got, want, 100.0/halfBucket)
		}
	}
	if h.Max() != uint64(samples[len(samples)-1]) || h.Count() != uint64(len(samples)) {
		t.Errorf("max %d count %d, want %d and %d", h.Max(), h.Count(), samples[len(samples)-1], len(samples))
	}
}

func TestSmallValuesAreExactAndMergeAdds(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for v := int64(1); v <= 100; v++ {
		a.Record(v)
	}
	b.Record(5_000_000)
	b.Record(-3) // a clock step backwards counts as 0, not as a huge unsigned value
	a.Merge(b)
	if a.Count() != 102 || a.Max() != 5_000_000 {
		t.Fatalf("count %d max %d", a.Count(), a.Max())
	}
	if p := a.Percentile(0.5); p != 50 {
		t.Errorf("p50 = %d, want 50", p)
	}
	if p := a.Percentile(0); p != 0 {
		t.Errorf("p0 = %d, want 0 (the clamped negative sample)", p)
	}
	if NewHistogram().Percentile(0.99) != 0 {
		t.Error("an empty histogram's p99 is not 0")
	}
}
