// Package e2e tests the product end to end: the worker and enqueue commands' Run functions, the Go
// producer and the HTTP endpoints, against private redis-server processes and the sandbox API. It
// holds only tests (make test runs them; the fault tests that kill processes are internal/faults).
package e2e
