// Package faults holds the fault tests: the real worker and enqueue binaries, run as processes
// against private redis-server processes (single, AOF, Sentinel, Cluster) and the in-process
// sandbox API, while something breaks on purpose (a worker killed with SIGKILL, Redis killed and
// restarted, the master lost to a failover, a 5xx outage, a 429 storm, a rejected key, poison
// payloads). Every process is started on loopback and stopped by pid; every wait has a deadline.
//
// The tests carry the build tag faults and names containing "Fault":
//
//	make test-faults    # go test -tags faults -run Fault ./internal/faults/
//
// What each test showed is written up in docs/reliability.md.
package faults
