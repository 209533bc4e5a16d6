package producer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestRoutedIngestRejectsOnlyTheBadURL: in one run of three accounts' URLs, a URL that matches no
// account or two is rejected with the router's reason; every other URL gets its account and key.
func TestRoutedIngestRejectsOnlyTheBadURL(t *testing.T) {
	set, err := accounts.Parse([]byte(`
accounts:
  - {name: a, token: toka, origins: ["https://img.a.com/"]}
  - {name: b, token: tokb, aliases: {_m_: "https://media.example.com/b"}}
  - {name: c, token: tokc, legacy_v7: true, aliases: {_m_: "https://media.example.com/c"}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	in := producer.NewRoutedIngest(set, "")
	for _, tc := range []struct {
		raw, account, key, reject string
		dup                       bool
	}{
		{raw: "https://img.a.com/1.jpg", account: "a", key: "https://img.a.com/1.jpg"},
		{raw: "https://img.none.com/1.jpg", reject: "which no account lists"},
		{raw: "https://tokb.cloudimg.io/_m_/1.jpg?w=10", account: "b", key: "_m_/1.jpg"},
		{raw: "_m_/1.jpg", reject: `matches two accounts by its alias _m_, "b" and "c"`},
		{raw: "https://media.example.com/c/1.jpg", account: "c", key: "/v7/_m_/1.jpg"},
		{raw: "http://img.a.com/1.jpg", account: "a", key: "https://img.a.com/1.jpg", dup: true},
		{raw: "https://toka.cloudimg.io/media.example.com/b/1.jpg", account: "a", key: "https://media.example.com/b/1.jpg"},
		{raw: "https://media.example.com/b/1.jpg", account: "b", key: "_m_/1.jpg", dup: true},
		{raw: "https://other.cloudimg.io/x.com/1.jpg", reject: "serves no declared account"},
	} {
		key, dup, err := in.Add(tc.raw)
		if tc.reject != "" {
			var ne *normalize.Error
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), tc.reject) || in.Account() != "" {
				t.Errorf("%s: %q, %v, account %q; want a rejection with %q", tc.raw, key, err, in.Account(), tc.reject)
			}
			continue
		}
		if err != nil || key != tc.key || dup != tc.dup || in.Account() != tc.account {
			t.Errorf("%s: key %q dup %v err %v account %q; want %q %v %s", tc.raw, key, dup, err, in.Account(), tc.key, tc.dup, tc.account)
		}
	}
}

// TestRoutedIngestExplicit: an explicit account takes every URL, and its normaliser judges each.
func TestRoutedIngestExplicit(t *testing.T) {
	set, err := accounts.Parse([]byte("accounts:\n  - {name: a, token: toka}\n  - {name: b, token: tokb}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	in := producer.NewRoutedIngest(set, "b")
	if key, _, err := in.Add("https://img.none.com/1.jpg"); err != nil || key != "https://img.none.com/1.jpg" || in.Account() != "b" {
		t.Errorf("origin: %q %v %q", key, err, in.Account())
	}
	if _, _, err := in.Add("https://toka.cloudimg.io/img.none.com/1.jpg"); err == nil || !strings.Contains(err.Error(), `CDN URL of token "toka", not of this token "tokb"`) {
		t.Errorf("a CDN URL of another account: %v", err)
	}
}
