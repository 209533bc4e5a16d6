// Package outbound is the one HTTP client for URLs that someone else chose.
//
// Such URLs are SNS signing certificates, subscription confirmations, webhooks and callbacks.
//
// A Client refuses what would let such a URL reach inside the network it runs in.
// It follows no redirect.
// It speaks https only, except to a loopback address.
// By default it dials no loopback, private, link-local or other non-public address.
// Its Options can allow them.
// The address check runs at dial time on the resolved IP.
// So a name that first resolves to a public address and later to a private one is still refused.
// That attack is DNS rebinding.
// Every exchange has a timeout.
// ReadBody reads an answer up to a bound.
// The environment's proxy settings are not used, since the check must see the dialed address.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one exchange (connect, TLS, request, answer headers and body) when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrRefused is what every refusal of a Client matches with errors.Is: a redirect, a scheme, an
// address, an answer over its bound. A refusal is not worth retrying as is.
var ErrRefused = errors.New("outbound: refused")

// RefusedError is a refusal: Reason says what was refused and why.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Options configure a Client. The zero value is the strict client: https only, public addresses
// only, DefaultTimeout, the system's roots.
type Options struct {
	// Timeout bounds one exchange; zero means DefaultTimeout.
	Timeout time.Duration
	// AllowPrivate lets the client dial private (RFC 1918, fc00::/7), shared (100.64.0.0/10),
	// link-local (169.254.0.0/16, fe80::/10) and loopback addresses. It is an operator's
	// choice, for a receiver inside the network. Plain http stays refused except to loopback.
	AllowPrivate bool
	// AllowLoopback lets the client dial loopback addresses only (a receiver on the same host,
	// tests). Plain http is accepted to a loopback address.
	AllowLoopback bool
	// RootCAs verifies servers' certificates; nil means the system's roots.
	RootCAs *x509.CertPool
	// PlainHTTP, when set, lets plain http reach the hosts it accepts. It is for answers that
	// carry their own proof, such as a certificate authority's published certificates: the
	// caller verifies them. The address check and the refusal of redirects still apply.
	PlainHTTP func(host string) bool
	// DialAddr, when set, rewrites each address ("host:port", resolved) before it is dialed.
	// Tests use it to answer a public name from a loopback server. No setting of the product
	// sets it, and the address it returns is checked like any other.
	DialAddr func(addr string) string
}

// Client is an HTTP client with the refusals of this package. Build it with New.
type Client struct {
	hc *http.Client
	o  Options
}

// New returns a Client configured by o.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, ControlContext: o.control}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if o.DialAddr != nil {
				addr = o.DialAddr(addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	hc := &http.Client{
		Transport: t,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			status := "a redirect"
			if req.Response != nil {
				status = req.Response.Status
			}
			return refused("a redirect (%s to %s): redirects are not followed", status, where(req.URL))
		},
	}
	return &Client{hc: hc, o: o}
}

// Do sends req after checking its URL: https, or http to a loopback address the options allow.
// Errors name the method and the URL without its query or user info (which may hold a token).
// The caller closes the answer's body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if err := c.checkURL(req.URL); err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, where(req.URL), err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, where(req.URL), err)
	}
	return resp, nil
}

// Get fetches raw and returns the body of a 200 answer, at most limit bytes (a longer one is
// refused). Another status is an error naming it.
func (c *Client) Get(ctx context.Context, raw string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("GET: %q is not a URL", raw)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := ReadBody(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", where(req.URL), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", where(req.URL), resp.Status)
	}
	return body, nil
}

// ReadBody reads r to its end, refusing more than limit bytes. Up to limit bytes are read in
// any case: the memory is bounded by limit.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, refused("the answer is longer than %d bytes", limit)
	}
	return b, nil
}

// where is u without its query, fragment and user info.
func where(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// checkURL refuses a scheme other than https, and http to anything but a loopback address
// literal or localhost (the dial check then also holds it to loopback).
func (c *Client) checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if c.o.AllowLoopback || c.o.AllowPrivate {
			h := u.Hostname()
			if a, err := netip.ParseAddr(h); (err == nil && a.Unmap().IsLoopback()) || strings.EqualFold(h, "localhost") {
				return nil
			}
		}
		if c.o.PlainHTTP != nil && c.o.PlainHTTP(strings.ToLower(u.Hostname())) {
			return nil
		}
		return refused("plain http: only https is fetched, except from a loopback address that is allowed")
	default:
		return refused("the scheme %q: only https is fetched", u.Scheme)
	}
}

// control is the dialer's check of the resolved address, just before the connection is made.
func (o Options) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return refused("the address %q does not parse", address)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return refused("the address %q is not an IP address", host)
	}
	if why := o.forbidden(a.Unmap()); why != "" {
		return refused("the address %s is %s: not dialed (only public addresses are, unless the operator allows others)", a, why)
	}
	return nil
}

// special are the IPv4 and IPv6 ranges that are neither loopback, private nor link-local in
// netip's terms, but are not public either.
var special = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in 0.0.0.0/8 (this network)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "in 100.64.0.0/10 (shared address space)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "in 192.0.0.0/24 (protocol assignments)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "in 198.18.0.0/15 (benchmarking)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "in 240.0.0.0/4 (reserved)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "in 64:ff9b::/96 (NAT64, an IPv4 address inside)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "in 64:ff9b:1::/48 (local NAT64)"},
	{netip.MustParsePrefix("2002::/16"), "in 2002::/16 (6to4, an IPv4 address inside)"},
}

// forbidden says why a may not be dialed, or "".
func (o Options) forbidden(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		if o.AllowLoopback || o.AllowPrivate {
			return ""
		}
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast() || a.IsLinkLocalMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	why := ""
	switch {
	case a.IsPrivate():
		why = "private"
	case a.IsLinkLocalUnicast():
		why = "link-local"
	default:
		for _, s := range special {
			if s.p.Contains(a) {
				why = s.why
				break
			}
		}
	}
	if why != "" && o.AllowPrivate {
		return ""
	}
	return why
}
