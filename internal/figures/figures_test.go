package figures

import (
	"testing"
	"time"
)

func TestFigures(t *testing.T) {
	for got, want := range map[string]string{
		Count(0): "0", Count(999): "999", Count(1000): "1,000", Count(1234567): "1,234,567",
		Plural(1, "API call", "API calls"): "1 API call", Plural(0, "API call", "API calls"): "0 API calls",
		Plural(2000, "URL", "URLs"): "2,000 URLs",
		Rate(0):                     "0", Rate(10): "10", Rate(2.5): "2.5", Rate(0.02): "0.02", Rate(0.0166): "0.02", Rate(0.001): "<0.01", Rate(150): "150",
		Duration(40 * time.Millisecond): "40ms", Duration(4649 * time.Millisecond): "4.6s", Duration(20*time.Minute + 300*time.Millisecond): "20m0s",
		Seconds(20): "20s", Seconds(0.5): "500ms",
		Millis(0): "1970-01-01 00:00:00 UTC",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
