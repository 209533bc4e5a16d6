// Package version holds the product's version, set at build time with
// -ldflags "-X github.com/cipurge/cipurge/internal/version.Version=v1.2.3".
package version

// Version is the product's version.
var Version = "dev"
