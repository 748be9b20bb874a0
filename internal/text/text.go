// Package text shortens what is stored in bounded columns (errors, messages, snippets).
package text

import "unicode/utf8"

// Truncate cuts s to at most n bytes without splitting a UTF-8 character, so what it keeps
// still fits a utf8mb4 column.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
