// Package alertstest runs the alerting rules shipped in deploy/prometheus/alerts.yml in a real
// Prometheus server (Debian's prometheus package) on a free loopback port, scraping a real worker,
// and waits for an alert to fire: the rules are checked against the metrics the product really
// exports, not only against the synthetic series of alerts_test.yml.
//
// The test has the build tag "alerts" because it needs the prometheus binary: run it with
// `make test-alerts` (CI installs prometheus with apt-get first, and runs promtool check rules and
// promtool test rules in the same target).
package alertstest
