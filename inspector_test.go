package cipurge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/inspect"
)

// TestHistoryOfCopiesEveryField: the public History and Cover carry every field of the internal
// ones. A field added to inspect.History and not copied by historyOf fails here.
func TestHistoryOfCopiesEveryField(t *testing.T) {
	var in inspect.History
	fill(t, reflect.ValueOf(&in).Elem())
	want, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(historyOf(&in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("historyOf lost or changed a field:\n got %s\nwant %s", got, want)
	}
	if c := Cover(*in.CoveredBy); c.String() != in.CoveredBy.String() {
		t.Errorf("Cover.String() = %q, want %q", c.String(), in.CoveredBy.String())
	}
}

// fill sets every field of v to a value that is not zero.
func fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + v.Type().Name())
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	default:
		t.Fatalf("fill: add the kind %s", v.Kind())
	}
}
