// Package browsertest checks the asynqmon UI in a real browser.
//
// The browser is Debian's headless Chromium.
// It opens the UI of a worker with queued and dead-lettered tasks.
// It checks what a person would see.
// That is the queues, and the dead letter on its queue's archived page.
//
// The test has the build tag "browser" because it needs Chromium.
// Run it with `make test-browser`.
// CI installs chromium with apt-get first.
// Screenshots go to BROWSER_SHOTS, never into the repository.
// By default that is tmp/browser/ under the module, which git ignores.
package browsertest
