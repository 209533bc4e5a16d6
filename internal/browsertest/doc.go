// Package browsertest opens the asynqmon UI that the worker serves in a real browser (Debian's
// headless Chromium) against a worker with queued and dead-lettered tasks, and checks what a
// person would see: the queues, and the dead letter on its queue's archived page.
//
// The test has the build tag "browser" because it needs Chromium: run it with `make test-browser`
// (CI installs chromium with apt-get first). Screenshots go to BROWSER_SHOTS (default
// tmp/browser/ under the module, which git ignores), never into the repository.
package browsertest
