// Package text shortens what is stored in bounded columns (errors, messages, snippets).
package text

import (
	"strings"
	"unicode/utf8"
)

// Truncate cuts s to at most n bytes without splitting a UTF-8 character, and replaces
// bytes that are not UTF-8 (a program's Latin-1 or binary output) with U+FFFD, so what it
// keeps fits a utf8mb4 column: MariaDB in strict mode refuses the whole write otherwise.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
