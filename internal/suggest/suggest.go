// Package suggest finds the name a mistyped one was probably meant to be, for messages that
// refuse an unknown key (config keys, request body fields) with "did you mean …?".
package suggest

import "strings"

// Closest returns the name of names nearest to word, ignoring case, or "" when none is a typo
// or two away: at most 3 edits, and at most half of word's length, so that a short word is
// not "corrected" into an unrelated one ("zz" is not "id"). Of names as near, it returns the
// first by byte order, so the same word always gets the same suggestion (Addr, not Addrs).
func Closest(word string, names []string) string {
	best, bestDistance := "", min(4, len(word)/2+1)
	lower := strings.ToLower(word)
	for _, name := range names {
		if d := distance(lower, strings.ToLower(name)); d < bestDistance || d == bestDistance && best != "" && name < best {
			best, bestDistance = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
