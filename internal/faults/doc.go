// Package faults holds the fault tests.
//
// They run the real worker and enqueue binaries as processes.
// These talk to private redis-server processes and the in-process sandbox API.
// Redis runs single, with AOF, with Sentinel or as a Cluster.
// Meanwhile something breaks on purpose:
//
//   - a worker killed with SIGKILL
//   - Redis killed and restarted
//   - the master lost to a failover
//   - a 5xx outage or a 429 storm
//   - a rejected key
//   - poison payloads
//
// Every process is started on loopback and stopped by pid.
// Every wait has a deadline.
//
// The tests carry the build tag faults and names containing "Fault":
//
//	make test-faults    # go test -tags faults -run Fault ./internal/faults/
//
// What each test showed is written up in docs/reliability.md.
package faults
