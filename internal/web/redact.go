package web

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/zeromicro/go-zero/core/logx"
)

// Redacted replaces a credential in the logs.
const Redacted = "[redacted]"

var (
	// jwtShaped matches a JWT wherever it appears (a query parameter of any name, a header,
	// a cookie, a user agent): three base64url parts, the first an encoded JSON object
	// ("eyJ" is `{"`), the last empty for an unsigned token.
	jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
	// credentialHeader matches the credentials of an Authorization header of any scheme
	// (Basic hides a token inside base64).
	credentialHeader = regexp.MustCompile(`(?i)((?:proxy-)?authorization:[ \t]*(?:[A-Za-z0-9._~+/-]+[ \t]+)?)[^\s"\\]+`)
	// queryParam matches a query parameter, name=value; Redact keeps those whose name, once
	// decoded, does not end in the stream route's token parameter (the service reads
	// access%5Ftoken, and a value with %2E for its dots, as the token too).
	queryParam = regexp.MustCompile(`([^\s?&;"\\=]+)=[^\s&"\\]+`)
)

// Redact returns s with every credential it holds replaced by Redacted.
func Redact(s string) string {
	s = credentialHeader.ReplaceAllString(s, "${1}"+Redacted)
	s = queryParam.ReplaceAllStringFunc(s, func(param string) string {
		name, _, _ := strings.Cut(param, "=")
		if decoded, err := url.QueryUnescape(name); err != nil || !strings.HasSuffix(decoded, QueryTokenParam) {
			return param
		}
		return name + "=" + Redacted
	})
	return jwtShaped.ReplaceAllString(s, Redacted)
}

// RedactTokens returns a log writer that writes through w with credentials replaced (see
// Redact), so a leaked log hands out no working token, whether a request carried it in a
// header, a cookie or the URL.
func RedactTokens(w logx.Writer) logx.Writer {
	return redactingWriter{w}
}

type redactingWriter struct {
	logx.Writer
}

func redact(v any) any {
	if s, ok := v.(string); ok {
		return Redact(s)
	}
	return v
}

func redactFields(fields []logx.LogField) []logx.LogField {
	out := make([]logx.LogField, len(fields))
	for i, f := range fields {
		out[i] = logx.LogField{Key: f.Key, Value: redact(f.Value)}
	}
	return out
}

func (w redactingWriter) Alert(v any) { w.Writer.Alert(redact(v)) }
func (w redactingWriter) Debug(v any, fields ...logx.LogField) {
	w.Writer.Debug(redact(v), redactFields(fields)...)
}
func (w redactingWriter) Error(v any, fields ...logx.LogField) {
	w.Writer.Error(redact(v), redactFields(fields)...)
}
func (w redactingWriter) Info(v any, fields ...logx.LogField) {
	w.Writer.Info(redact(v), redactFields(fields)...)
}
func (w redactingWriter) Severe(v any) { w.Writer.Severe(redact(v)) }
func (w redactingWriter) Slow(v any, fields ...logx.LogField) {
	w.Writer.Slow(redact(v), redactFields(fields)...)
}
func (w redactingWriter) Stack(v any) { w.Writer.Stack(redact(v)) }
