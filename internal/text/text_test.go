package text_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"jobs/internal/text"
)

func TestTruncateNeverSplitsACharacter(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", 10) // 2 bytes each
	for n := 0; n <= len(s)+1; n++ {
		got := text.Truncate(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasPrefix(s, got) || len(got) < n-1 {
			t.Fatalf("Truncate(%d) = %q (%d bytes)", n, got, len(got))
		}
	}
	if got := text.Truncate("short", 100); got != "short" {
		t.Fatalf("Truncate kept %q of a short string", got)
	}
}

func TestTruncateReplacesBytesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"caf\xe9": "caf\uFFFD", "\xff\xfeok": "\uFFFDok", "caf\xe9 au lait": "caf\uFFFD "} {
		if got := text.Truncate(in, 7); got != want {
			t.Errorf("Truncate(%q, 7) = %q, want %q", in, got, want)
		}
	}
}
