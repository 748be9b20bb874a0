package suggest_test

import (
	"testing"

	"jobs/internal/suggest"
)

func TestClosestSuggestsOnlyANameATypoOrTwoAway(t *testing.T) {
	t.Parallel()
	names := []string{"ids", "filter", "status", "Addr", "Addrs", "params", "runAt"}
	for word, want := range map[string]string{
		"stauts": "status", "parms": "params", "run_at": "runAt", "ADR": "Addr", "id": "ids", "filtre": "filter",
		"zz": "", "frobnicate": "", "": "", "x": "",
	} {
		if got := suggest.Closest(word, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
}
