// Package accounts declares the Cloudimage accounts of one deployment and routes each URL to one.
//
// An account is a token with its API key, its URL rules, its rates and its flush-all cooldown.
// A deployment without an accounts file has one account, named default, built from the
// settings of today (internal/config builds it with Single).
// A file (Parse, Load) lists several.
// Validation reports every problem at once.
// Each message names the account, the field and the fix, and never a secret.
//
// Route gives each URL its account from the URL's form, or from an account named explicitly.
// docs/accounts.md has the design: key layout, isolation, fair sharing and what is built.
package accounts
