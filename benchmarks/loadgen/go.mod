module sluice.dev/benchmarks/loadgen

go 1.22
