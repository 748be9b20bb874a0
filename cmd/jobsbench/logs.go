package main

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/zeromicro/go-zero/core/logx"
)

// shedLog is a logx writer that counts, instead of printing, go-zero's two or three error
// lines per request its shedder or breaker refuses: tens of thousands of lines under
// sustained overload, whose writing would also cost the measured process CPU. Every
// other line goes to stderr.
type shedLog struct {
	logx.Writer
	dropped atomic.Int64
}

var quietLog = &shedLog{Writer: logx.NewWriter(os.Stderr)}

// install (re)installs the writer: rest.Server.Stop closes logx's writer, so every app start
// needs it again.
func (l *shedLog) install() { logx.SetWriter(l) }

func isShedLine(v any) bool {
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	return strings.HasPrefix(s, "[http] dropped, ") || strings.HasPrefix(s, "dropreq, ") ||
		strings.HasPrefix(s, "[HTTP] 503 - ") || strings.Contains(s, "\ndropreq, ")
}

func (l *shedLog) Error(v any, fields ...logx.LogField) {
	if isShedLine(v) {
		l.dropped.Add(1)
		return
	}
	l.Writer.Error(v, fields...)
}

func (l *shedLog) Alert(v any) {
	if isShedLine(v) {
		l.dropped.Add(1)
		return
	}
	l.Writer.Alert(v)
}

// Close keeps the writer usable: logx.Close is called by every rest.Server.Stop.
func (l *shedLog) Close() error { return nil }
