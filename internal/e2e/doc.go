// Package e2e runs the product the way a user does: the enqueue and worker commands (their Run
// functions, in this process), the Go producer and the HTTP endpoints, on private redis-server
// processes, against the sandbox API. It holds only tests; the fault tests that kill processes are
// in internal/faults.
package e2e
