package tasks

import "fmt"

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
