// Package normalize turns a Cloudimage image URL into its key.
//
// The key is the string the Invalidation API's "urls" list expects
// for scope "original". An input that has no key gets an *Error.
// The error names the input and the reason.
//
// Every producer calls it first on each URL.
// Two requests are the same exactly when their keys are equal.
// Equal keys are deduplicated.
// The package is pure Go. It does no I/O, no logging, and keeps no global state.
//
//	n, err := normalize.New(normalize.Config{Token: "tok"})
//	...
//	key, err := n.Normalize("https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600")
//	// key == "https://img.domain.com/image2.jpg"
//
// # Keys
//
// Each configuration has one key form:
//
//   - Plain token: the https:// origin URL, as in "https://img.domain.com/image2.jpg".
//   - Legacy token ([Config.LegacyV7]): "/v7/" and the plain key.
//   - Origin prefix ([Config.OriginPrefix]): the path under the prefix.
//   - Alias ([Config.Aliases]): the alias and the path under its base.
//
// http and https origins share a key.
// The query string and the fragment are dropped.
// Path case is kept. Percent-encoding is normalised.
// Normalize never panics.
//
// [Normalizer.NormalizePrefix] reads a folder that ends with "/*".
// Normalize refuses a root prefix.
//
// Normalize is idempotent. A key normalises to itself.
//
// The full rules cover inputs, paths, hosts, rejections and prefixes.
// See docs/normalize.md.
package normalize
