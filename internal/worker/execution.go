package worker

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"jobs/internal/text"

	"jobs/internal/events"
	"jobs/internal/functions"
	"jobs/model"
)

var (
	errCancelled = errors.New("job cancelled")
	errLeaseLost = errors.New("lease lost")
	errShutdown  = errors.New("worker shutting down")
	errTimedOut  = errors.New("attempt timed out")
)

// execution is one attempt of a job running on this worker. It is the function's Reporter.
type execution struct {
	job     *model.Jobs
	cancel  context.CancelCauseFunc
	emitter *events.Emitter
	// abandoned is set once the attempt's outcome must be discarded: the job was
	// cancelled, its lease was lost, or it was handed back on shutdown.
	abandoned atomic.Bool
	// reported is set once the function has reported progress or output.
	reported atomic.Bool

	mu       sync.Mutex
	progress model.Progress
	dirty    bool // progress changed since the last flush
	// logs keeps the attempt's last logTail output lines, flushed with progress and stored
	// with the outcome.
	logs      []events.LogData
	logsDirty bool // logs changed since the last flush
	logTail   int
}

// reportsWait bounds how long an attempt's end waits for its reports to be published.
const reportsWait = 2 * time.Second

// awaitReports waits until the progress and log events the function reported are published,
// if it reported any, so that they are in the job's event log before MySQL has the job's
// end: a stream that finds the job ended with no done in Redis stores the done itself, and
// nothing is stored in a job's log after its done. Redis away, the end waits reportsWait.
func (e *execution) awaitReports() {
	if !e.reported.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportsWait)
	defer cancel()
	e.emitter.Sync(ctx)
}

func (e *execution) abandon(cause error) {
	if e.abandoned.CompareAndSwap(false, true) {
		e.cancel(cause)
	}
}

// Progress implements functions.Reporter.
func (e *execution) Progress(done, total int64, message string) {
	message = text.Truncate(message, 1024)
	e.mu.Lock()
	e.progress.Progress, e.progress.Total, e.progress.Message = done, total, message
	e.dirty = true
	e.mu.Unlock()
	e.reported.Store(true)
	e.emitter.TryEmit(events.Pending{JobID: e.job.Id, Name: events.Progress, Owner: events.OwnerOf(e.job),
		Data: events.ProgressData{Progress: done, Total: total, Message: message}})
}

// Log implements functions.Reporter.
func (e *execution) Log(stream, line string) {
	if e.logTail > 0 {
		e.mu.Lock()
		e.logs = append(e.logs, events.LogData{Stream: stream, Line: line})
		if len(e.logs) > 2*e.logTail {
			e.logs = append(e.logs[:0], e.logs[len(e.logs)-e.logTail:]...)
		}
		e.logsDirty = true
		e.mu.Unlock()
	}
	e.reported.Store(true)
	e.emitter.TryEmit(events.Pending{JobID: e.job.Id, Name: events.Log, Data: events.LogData{Stream: stream, Line: line}})
}

// maxLogTailBytes bounds the kept output lines as JSON, so that they fit the statements that
// store them with the progress and the outcome (batcher.MaxStatementBytes): Worker.LogTail
// lines of up to 4 KiB (a command's; escaped for JSON, up to six times that) made tens of
// MiB, a statement over max_allowed_packet that MySQL refused by dropping the connection.
const maxLogTailBytes = 1 << 20

// logTailJSON is the last of the logTail kept output lines that fit maxLogTailBytes, as a
// JSON array; not valid when there are none. The caller holds mu.
func (e *execution) logTailJSON() sql.NullString {
	logs := e.logs
	if len(logs) > e.logTail {
		logs = logs[len(logs)-e.logTail:]
	}
	var kept [][]byte
	size := len("[]")
	for i := len(logs) - 1; i >= 0; i-- {
		line, _ := json.Marshal(logs[i]) // two strings: it cannot fail
		if size+len(line)+1 > maxLogTailBytes {
			if len(kept) == 0 {
				// The last line alone is over the bound (an in-process function's; a
				// command's are 4 KiB at most): cut to what fits even if JSON escapes
				// every byte as \uXXXX.
				last := logs[i]
				last.Line = text.Truncate(last.Line, maxLogTailBytes/6-len(last.Stream)-64)
				line, _ = json.Marshal(last)
				kept = append(kept, line)
			}
			break
		}
		kept = append(kept, line)
		size += len(line) + 1
	}
	if len(kept) == 0 {
		return sql.NullString{}
	}
	slices.Reverse(kept)
	return sql.NullString{String: "[" + string(bytes.Join(kept, []byte(","))) + "]", Valid: true}
}

// snapshot returns the attempt's progress and its kept output lines.
func (e *execution) snapshot() model.Progress {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.progressLocked(true)
}

// takeDirty returns the progress if it or the output lines changed since the last call; the
// lines are left out (NULL, which SaveProgress keeps as stored) unless they changed.
func (e *execution) takeDirty() (model.Progress, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, dirty := e.progressLocked(e.logsDirty), e.dirty || e.logsDirty
	e.dirty, e.logsDirty = false, false
	return p, dirty
}

func (e *execution) progressLocked(withLogs bool) model.Progress {
	p := e.progress
	p.Id, p.Attempt = e.job.Id, e.job.Attempt
	if withLogs {
		p.LogTail = e.logTailJSON()
	}
	return p
}

// execute runs the function within the job's timeout (the function's for jobs that carry
// none) and turns what it returns into an outcome. A failed attempt with attempts left and
// a retryable error goes back to pending, to run again after the function's backoff.
func (e *execution) execute(ctx context.Context, def *functions.Definition) model.Outcome {
	timeout := def.Timeout
	if e.job.TimeoutMs > 0 {
		timeout = time.Duration(e.job.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()
	call := functions.Call{JobID: e.job.Id, Attempt: e.job.Attempt, Params: json.RawMessage(e.job.Params)}
	result, err := runSafely(ctx, def.Run, call, e)

	outcome := model.Outcome{Id: e.job.Id, Attempt: e.job.Attempt, Progress: e.snapshot()}
	if err == nil {
		err = complete(&outcome, result)
		if err == nil {
			return outcome
		}
	}
	message := err.Error()
	if errors.Is(context.Cause(ctx), errTimedOut) {
		message = "timed out after " + strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + "s"
	}
	outcome.Error = text.Truncate(message, 4096)
	outcome.Kind = model.OutcomeFailed
	if !functions.IsPermanent(err) && e.job.Attempt < e.job.MaxAttempts {
		outcome.Kind = model.OutcomeRetry
		outcome.RetryDelay = def.RetryDelay(e.job.Attempt)
	}
	return outcome
}

// complete makes outcome a completion with result, or returns why result cannot be stored.
func complete(outcome *model.Outcome, result any) error {
	encoded, err := json.Marshal(result)
	if err != nil {
		return functions.Permanent(fmt.Errorf("result is not JSON-encodable: %v", err))
	}
	// A result taken as it came (a command's ::result line, an HTTP answer) may hold bytes
	// that are not UTF-8, which the utf8mb4 column refuses; JSON holds them only inside
	// strings, where U+FFFD keeps it valid JSON.
	stored := strings.ToValidUTF8(string(encoded), "\uFFFD")
	if len(stored) > functions.MaxResultBytes {
		return functions.Permanent(fmt.Errorf("result is %d bytes, over the limit of %d bytes", len(stored), functions.MaxResultBytes))
	}
	outcome.Kind = model.OutcomeCompleted
	outcome.Result.String, outcome.Result.Valid = stored, true
	return nil
}

// runSafely turns a panicking function into an error.
func runSafely(ctx context.Context, run functions.RunFunc, call functions.Call, r functions.Reporter) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("function panicked: %v", v)
		}
	}()
	return run(ctx, call, r)
}
