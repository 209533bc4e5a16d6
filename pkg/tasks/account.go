package tasks

import (
	"fmt"
	"strings"
)

// DefaultAccount is the account of a deployment that declares none.
// Its queues and keys keep the names of a deployment of one token.
const DefaultAccount = "default"

// MaxAccountName bounds an account's name.
// The name is to become part of queue names, a key's hash tag and a metric label.
const MaxAccountName = 32

// CheckAccountName returns why name cannot be an account's name, or "".
// A name is 1 to MaxAccountName lower-case letters, digits, "-" and "_", starting with a letter or digit.
func CheckAccountName(name string) string {
	switch {
	case name == "":
		return "is empty: give the account a name of lower-case letters, digits, - and _, e.g. shop-a"
	case len(name) > MaxAccountName:
		return fmt.Sprintf("%q is longer than %d characters: use a shorter name (it is a key tag and a metric label)", name, MaxAccountName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '-' || c == '_') {
			continue
		}
		return fmt.Sprintf("%q has %q: use only lower-case letters, digits, - and _, starting with a letter or digit, e.g. shop-a", name, string(rune(c)))
	}
	return ""
}

// AccountQueues are the four queues of one account.
// The account DefaultAccount has today's names: QueueAll, QueueInteractive, QueueConfirm, QueueBulk.
// Another account's are those names with ":" and its name: purge:shop-a, bulk:shop-a, ...
// asynq keys each queue under its own hash tag, so an account's queues are its own.
type AccountQueues struct {
	Account                         string
	All, Interactive, Confirm, Bulk string
}

// QueuesOf returns the queues of account ("" is DefaultAccount).
// The caller checks the name (CheckAccountName).
func QueuesOf(account string) AccountQueues {
	if account == "" || account == DefaultAccount {
		return AccountQueues{Account: DefaultAccount, All: QueueAll, Interactive: QueueInteractive, Confirm: QueueConfirm, Bulk: QueueBulk}
	}
	at := func(q string) string { return q + ":" + account }
	return AccountQueues{Account: account, All: at(QueueAll), Interactive: at(QueueInteractive), Confirm: at(QueueConfirm), Bulk: at(QueueBulk)}
}

// Priorities returns the account's queues and their priorities (used with StrictPriority), as
// Queues does for the default account.
func (q AccountQueues) Priorities() map[string]int {
	return map[string]int{q.All: 8, q.Interactive: 6, q.Confirm: 3, q.Bulk: 1}
}

// Names lists the account's queues, highest priority first.
func (q AccountQueues) Names() []string { return []string{q.All, q.Interactive, q.Confirm, q.Bulk} }

// AccountOfQueue returns the account whose queue queue is, and the queue's name for the default
// account (QueueBulk for bulk:shop-a). ok is false for a queue of no account.
func AccountOfQueue(queue string) (account, base string, ok bool) {
	base, account, found := strings.Cut(queue, ":")
	if !found {
		account = DefaultAccount
	}
	for _, b := range QueueNames() {
		if b == base && (!found || CheckAccountName(account) == "") {
			return account, base, true
		}
	}
	return "", "", false
}
