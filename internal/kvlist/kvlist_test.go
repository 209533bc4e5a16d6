package kvlist

import (
	"errors"
	"reflect"
	"testing"
)

func TestEach(t *testing.T) {
	var got []Entry
	collect := func(e Entry) error { got = append(got, e); return nil }
	err := Each(" a = 1 ,, b=x=y,c=,", "name=value", collect)
	want := []Entry{{"a = 1", "a", "1"}, {"b=x=y", "b", "x=y"}, {"c=", "c", ""}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v", got, err)
	}
	got = nil
	if err := Each(" , ", "name=value", collect); err != nil || len(got) != 0 {
		t.Errorf("empty: %q, %v", got, err)
	}
	got = nil
	err = Each("a=1, b ,c=2", "name=value", collect)
	if err == nil || err.Error() != `entry "b" has no "=": write each entry as name=value` || len(got) != 1 {
		t.Errorf("no =: %v after %q", err, got)
	}
	// The first error stops the list, in the order of the entries.
	bad := errors.New("bad a")
	err = Each("a=1, b", "name=value", func(e Entry) error { return bad })
	if err != bad {
		t.Errorf("fn's error: %v", err)
	}
}
