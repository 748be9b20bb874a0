package web

import (
	"regexp"

	"github.com/zeromicro/go-zero/core/logx"
)

// tokenInLog matches what carries an access token in a logged request: go-zero's JWT
// middleware dumps a rejected request, headers included.
var tokenInLog = regexp.MustCompile(`(?i)(authorization:\s*bearer\s+|` + QueryTokenParam + `=)[^\s&]+`)

// RedactTokens returns a log writer that writes through w with access tokens replaced by
// "[redacted]", so a leaked log does not hand out working or forged tokens to read.
func RedactTokens(w logx.Writer) logx.Writer {
	return redactingWriter{w}
}

type redactingWriter struct {
	logx.Writer
}

func redact(v any) any {
	if s, ok := v.(string); ok {
		return tokenInLog.ReplaceAllString(s, "${1}[redacted]")
	}
	return v
}

func (w redactingWriter) Alert(v any) { w.Writer.Alert(redact(v)) }
func (w redactingWriter) Debug(v any, fields ...logx.LogField) {
	w.Writer.Debug(redact(v), fields...)
}
func (w redactingWriter) Error(v any, fields ...logx.LogField) {
	w.Writer.Error(redact(v), fields...)
}
func (w redactingWriter) Info(v any, fields ...logx.LogField) { w.Writer.Info(redact(v), fields...) }
func (w redactingWriter) Severe(v any)                        { w.Writer.Severe(redact(v)) }
func (w redactingWriter) Slow(v any, fields ...logx.LogField) { w.Writer.Slow(redact(v), fields...) }
func (w redactingWriter) Stack(v any)                         { w.Writer.Stack(redact(v)) }
