// Package normalize turns any URL a user may hold for a Cloudimage image
// into the one string the Invalidation API's "urls" list expects for scope
// "original" (the key), or rejects it with an *Error that names the input
// and the reason.
//
// It is the first thing every producer does with a URL: two requests are
// the same (and are deduplicated) exactly when their keys are equal. It is
// pure Go: no I/O, no logging, no global state.
//
//	n, err := normalize.New(normalize.Config{Token: "tok"})
//	...
//	key, err := n.Normalize("https://tok.cloudimg.io/img.domain.com/image2.jpg?w=600")
//	// key == "https://img.domain.com/image2.jpg"
//
// # Keys
//
// The docs write keys in more than one way (the seed page's rules say
// https://img.domain.com/image2.jpg; its JSON sample says
// /sample.li/birds.jpg). One form per configuration is chosen here:
//
//   - Plain token (created after November 2021): the origin URL with the
//     https:// scheme, a lower-case host, no default port, no query string
//     or fragment: "https://img.domain.com/image2.jpg". This is the form of
//     the page's own rules and examples. With the scheme, a key can never
//     be mistaken for a path under an origin prefix ("images/image1.jpg")
//     or an alias ("_media_/..."), and the leading slash stays what it is
//     in the docs, the mark of the /v7/ form. The JSON sample's
//     "/sample.li/birds.jpg" is the same image and maps to
//     "https://sample.li/birds.jpg". http and https origins share a key:
//     the CDN path "img.domain.com/image2.jpg" names no scheme, so both are
//     the same image to Cloudimage.
//   - Legacy token (Config.LegacyV7, created before November 2021):
//     "/v7/" + the key the token would have without it, e.g.
//     "/v7/https://img.domain.com/image2.jpg", "/v7/images/image1.jpg",
//     "/v7/_media_/images/image1.jpg". Exactly one leading /v7/ is read
//     off any input, with or without the option, so inputs with and
//     without /v7/ meet.
//   - Origin prefix (Config.OriginPrefix): the path under the prefix,
//     without a leading slash: "images/image1.jpg".
//   - Alias (Config.Aliases): the alias, a slash and the path under its
//     base: "_media_/images/image1.jpg", never what the alias expands to.
//
// # Inputs
//
// Every input is read the way a browser reads a URL, then as Cloudimage
// reads the path of a CDN URL:
//
//   - Leading and trailing white space (and a byte order mark) is dropped;
//     the query string and fragment are dropped (Cloudimage operations such
//     as ?w=600 or ci_sign, and scope "original" covers every resize).
//   - A URL on the token host ({token}.cloudimg.io) or on a CNAME
//     (Config.Hosts), with or without scheme, port 443 or 80, any host
//     case: its path is read as a CDN path.
//   - Any other http(s) URL is an origin URL.
//   - Anything without a scheme ("img.domain.com/image2.jpg",
//     "/sample.li/birds.jpg", "images/image1.jpg", a key) is read as a CDN
//     path.
//
// A CDN path is an optional "v7/", then the first of: an embedded origin
// URL ("https://img.domain.com/image2.jpg", also "https:/..." and any
// case); an alias ("_media_/..."), matched as a whole path segment, so
// "_demo_" never matches "_demo_one_/..."; the token host or a CNAME, once
// (a schemeless CDN URL); an origin URL without its scheme, whose first
// segment is a host ("img.domain.com/image2.jpg"). With an origin prefix,
// this last case changes, see below.
//
// An origin URL (from any of the above) gets, in this order: the alias
// with the longest base that holds it (whole segments again); else, when
// it is under the origin prefix, the path under the prefix; else the
// https:// origin URL itself. A CDN path keeps the form it was served in:
// "_media_/x.jpg" stays an alias key and a prefix-relative path stays
// relative even when an alias base would also cover the image, because the
// API invalidates what was served (it asks for the alias, not what it
// expands to).
//
// # Origin prefix and ambiguous paths
//
// With an origin prefix, Cloudimage prepends it to the CDN path, so a
// first segment that looks like a host is a folder under the prefix:
// "https://tok.cloudimg.io/img.domain.com/a.jpg" is keyed
// "img.domain.com/a.jpg" (the origin is
// https://storage.example.com/media/img.domain.com/a.jpg). Three
// exceptions: a path that starts with http:// or https:// is a full origin
// URL (keyed like any origin URL, so one under the prefix still gets the
// relative key); a path whose first segment is the prefix's own host
// ("storage.example.com/media/a.jpg") is that origin URL without its
// scheme; aliases and the CDN hosts keep their meaning.
//
// A relative key must read back as itself, so a path under the prefix
// whose first segment would be read as something else (empty, "v7"
// without the legacy option, anything with a colon, an alias, the prefix
// host or a Cloudimage host) is keyed by its full origin URL instead, e.g.
// https://storage.example.com/media/v7/a.jpg. Without an origin prefix, a
// first segment that is not a host name ("images/a.jpg") is rejected, with
// the advice to set an origin prefix or give the full URL.
//
// # Paths
//
// Path case is kept. Percent-encoding is normalised so that equivalent
// spellings meet and different images never do: escapes of unreserved
// characters are decoded ("%41" is "A", "%7E" is "~"); other escapes are
// kept with upper-case hex ("%2f" is "%2F": an escaped slash is not a
// slash, as in a browser); a "%" that starts no escape becomes "%25";
// space, `"`, "<", ">", "^", "`", "{", "|", "}" and every non-ASCII byte are
// escaped (UTF-8, as browsers do); sub-delimiters, ":", "@", "[", "]" and
// "*" are kept as they are (so the API's wildcard form "/sample.li/avatars/*"
// is kept literally, and "%2A" stays a different, escaped star). A
// backslash is a slash, as in a browser. Dot segments (".", "..", and
// escaped forms such as "%2e%2E") are resolved as the WHATWG URL standard
// does, never above the root. Empty segments ("a//b") are kept.
//
// # Hosts
//
// Host names are ASCII, lower-cased, without a trailing dot, with labels of
// letters, digits, "-" and "_", and at least one dot. A last label that
// starts with a digit means an IPv4 address, accepted only as dotted
// decimal (browsers also read octal and hex forms: rejected here); IPv6 addresses
// are accepted in brackets and written in RFC 5952 form. Ports 80 and 443
// are dropped (http and https share keys), other ports kept. Non-ASCII
// (internationalised) host names are rejected with the advice to write
// them in punycode (xn--...): the standard library has no IDNA mapping,
// and accepting them as given would give one host two keys.
//
// # Rejections
//
// Normalize returns an *Error, never panics, for: an empty or blank input;
// an input longer than MaxInputLen (8 KiB), or whose key would be; control
// characters (NUL, tab, CR, LF inside the URL, DEL...); invalid UTF-8
// (rejected, not repaired: a broken byte in a URL list is a broken list,
// and guessing would make a key for an image that does not exist; write
// such bytes as %-escapes); schemes other than http and https (javascript:,
// file:, data:...); user info ("user:pass@host"); invalid hosts and
// ports; a CDN URL of another token ("other.cloudimg.io", naming the
// expected token) or any other cloudimg.io host; a Cloudimage URL nested
// in another; a URL without an image path (a bare CDN or origin host); a
// path that ends with "/" (a folder, not an image); without an origin
// prefix, a first path segment that is neither a host nor a configured
// alias (an unknown alias, a percent-encoded origin URL, a bare file name).
//
// # Prefixes
//
// A folder ending with "/*", in any form above, is a prefix: NormalizePrefix
// returns its canonical key (the folder's key followed by "*", so every image
// key under it starts with the prefix key without its star) and whether it is
// a root ("/*", "https://host/*", "_alias_/*", or "*" under an origin
// prefix). A "*" anywhere else in a prefix is rejected. Normalize keeps a
// star in an image URL as it is, but refuses a root prefix: sent as a URL it
// would flush a whole host, alias or token without the flush-all's
// confirmation.
//
// Normalize is idempotent: a key normalises to itself, and the CDN URL of
// a key ("https://{token}.cloudimg.io/" + key, without its leading slash)
// normalises to the key.
package normalize
