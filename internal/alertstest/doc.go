// Package alertstest checks the shipped alerting rules against a real Prometheus.
//
// The rules are in deploy/prometheus/alerts.yml.
// The test runs them in Debian's prometheus package, on a free loopback port.
// Prometheus scrapes a real worker, and the test waits for an alert to fire.
// So the rules are checked against the metrics the product really exports.
// alerts_test.yml only checks them against synthetic series.
//
// The test has the build tag "alerts" because it needs the prometheus binary.
// Run it with `make test-alerts`.
// CI installs prometheus with apt-get first.
// The same target runs promtool check rules and promtool test rules.
package alertstest
