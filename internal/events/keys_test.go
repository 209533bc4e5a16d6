package events

import (
	"strings"
	"testing"

	"github.com/cipurge/cipurge/pkg/normalize"
)

// TestObjectKeyIsTheNormalisersKey: an object key from a storage event becomes exactly the key
// the normaliser gives the object's public URL written by hand (its characters literal, only
// those a path cannot hold escaped: % ? # and \\, which browsers read as /), for keys with every ASCII punctuation character, spaces and
// unicode.
func TestObjectKeyIsTheNormalisersKey(t *testing.T) {
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBuckets("media=https://storage.example.com/media/")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"image (1).jpg", "a b/c d.jpg", "ünïcødé/日本語.png", "emoji 😀.gif", "a+b.jpg", "50%off.jpg", "q?x#y.jpg"}
	for _, c := range "!\"#$%&'()*+,-.:;<=>?@[\\]^_`{|}~" {
		keys = append(keys, "p/x"+string(c)+"y.jpg")
	}
	for _, key := range keys {
		got, m := b.URL("media", key)
		if m != matched {
			t.Fatalf("%q: not mapped", key)
		}
		fromEvent, err := norm.Normalize(got)
		if err != nil {
			t.Errorf("%q: the event's URL %q does not normalise: %v", key, got, err)
			continue
		}
		// By hand: the key as it is, with only what a path cannot hold escaped.
		hand := "https://storage.example.com/media/" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23", "\\", "%5C").Replace(key)
		fromHand, err := norm.Normalize(hand)
		if err != nil {
			t.Errorf("%q: the hand-written URL %q does not normalise: %v", key, hand, err)
			continue
		}
		if fromEvent != fromHand {
			t.Errorf("%q: the event gives %q, the URL by hand %q", key, fromEvent, fromHand)
		}
	}
}

// TestNoOpDeleteIsIgnored: MinIO's s3:ObjectRemoved:NoOP (a delete of a key that never existed)
// changes nothing, so it sends nothing.
func TestNoOpDeleteIsIgnored(t *testing.T) {
	for name, want := range map[string]bool{"s3:ObjectRemoved:NoOP": false, "s3:ObjectRemoved:Delete": true, "ObjectRemoved:DeleteMarkerCreated": true} {
		if _, change := s3Change(name); change != want {
			t.Errorf("%s: change %v, want %v", name, change, want)
		}
	}
}
