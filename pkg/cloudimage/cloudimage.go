// Package cloudimage holds the facts of the Cloudimage Invalidation API that the wire contract
// (pkg/tasks), the API client (pkg/apiclient), the stand-in API (internal/sandbox) and the
// settings share, each written once. It imports nothing, so that a package which only needs a
// fact does not link the HTTP client.
package cloudimage

// MaxURLsPerRequest is the most URLs one "original" invalidation request may carry.
const MaxURLsPerRequest = 15
