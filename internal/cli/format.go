package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"jobs/client"
)

// timeFormat is the API's: RFC 3339 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// formatProgress is "3/10 message", "3 message" when the total is unknown, or "" before
// any progress.
func formatProgress(progress, total int64, message string) string {
	if progress == 0 && total == 0 && message == "" {
		return ""
	}
	s := strconv.FormatInt(progress, 10)
	if total > 0 {
		s += "/" + strconv.FormatInt(total, 10)
	}
	return strings.TrimSpace(s + " " + message)
}

// printJob prints a job as "field: value" lines, the id first; empty fields are left out.
func printJob(w io.Writer, job *client.JobDetail) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	field("id", job.ID)
	field("function", job.FunctionID)
	field("name", job.Name)
	field("status", string(job.Status))
	field("progress", formatProgress(job.Progress, job.Total, job.Message))
	field("error", job.Error)
	field("attempt", fmt.Sprintf("%d of %d", job.Attempt, job.MaxAttempts))
	field("timeout", fmt.Sprintf("%gs", job.TimeoutSeconds))
	field("actor", job.Actor)
	field("game", job.GameID)
	field("env", job.Env)
	field("created", formatTime(&job.CreatedAt))
	field("run at", formatTime(job.RunAt))
	field("started", formatTime(job.StartedAt))
	field("finished", formatTime(job.FinishedAt))
	field("params", string(job.Params))
	if job.Status == client.StatusCompleted {
		field("result", string(job.Result))
	}
	field("callback", job.CallbackURL)
	if cb := job.Callback; cb != nil {
		delivery := fmt.Sprintf("%s after %d attempts", cb.Status, cb.Attempts)
		if cb.LastError != "" {
			delivery += ": " + cb.LastError
		}
		field("delivery", delivery)
	}
	for i, l := range job.LogTail {
		label := "" // the lines after the first continue the field
		if i == 0 {
			label = "log:"
		}
		fmt.Fprintf(tw, "%s\t%s: %s\n", label, l.Stream, l.Line)
	}
	_ = tw.Flush()
}

// printList prints jobs as a table.
func printList(w io.Writer, jobs []client.JobItem) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tFUNCTION\tNAME\tPROGRESS\tACTOR\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Status, j.FunctionID, j.Name,
			truncate(formatProgress(j.Progress, j.Total, j.Message), 30), j.Actor, formatTime(&j.CreatedAt))
	}
	_ = tw.Flush()
}

// printTotal says which page of how many jobs printList showed.
func printTotal(w io.Writer, page *client.JobList) {
	total := strconv.FormatInt(page.Total, 10)
	if page.TotalIsEstimate {
		total = "more than " + total
	}
	fmt.Fprintf(w, "page %d (%d per page) of %s jobs\n", page.Page, page.Size, total)
}

func printFunctions(w io.Writer, fns []client.Function) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tTIMEOUT\tATTEMPTS\tREQUIRED PARAMS\tDESCRIPTION")
	for _, f := range fns {
		fmt.Fprintf(tw, "%s\t%s\t%gs\t%d\t%s\t%s\n", f.ID, f.Kind, f.TimeoutSeconds, f.MaxAttempts,
			strings.Join(f.RequiredParams, ","), f.Description)
	}
	_ = tw.Flush()
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// isTerminal reports whether w is a terminal, where a progress bar can redraw itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// watchView prints a watched job's events: on a terminal, a progress bar redrawn in place
// with status changes and output lines above it; otherwise one plain line per event (or
// one JSON object per event with -json).
type watchView struct {
	w       io.Writer
	bar     bool
	asJSON  bool
	barLine string // the progress bar as last drawn; "" when none is shown
}

func newWatchView(w io.Writer, asJSON bool) *watchView {
	return &watchView{w: w, asJSON: asJSON, bar: !asJSON && isTerminal(w)}
}

// event prints one event; it is Watch's handler.
func (v *watchView) event(ev client.Event) error {
	if v.asJSON {
		return v.eventJSON(ev)
	}
	switch e := ev.(type) {
	case *client.SnapshotEvent:
		v.line("job %s (%s): %s", e.Job.ID, e.Job.FunctionID, e.Job.Status)
		v.progress(e.Job.Progress, e.Job.Total, e.Job.Message)
	case *client.StatusEvent:
		line := fmt.Sprintf("status: %s (attempt %d)", e.Status, e.Attempt)
		if e.Error != "" {
			line += ": " + e.Error
		}
		v.line("%s", line)
	case *client.ProgressEvent:
		v.progress(e.Progress, e.Total, e.Message)
	case *client.LogEvent:
		v.line("%s: %s", e.Stream, e.Line)
	case *client.ResetEvent:
		if e.Reason == "lost" {
			v.line("(the service lost the job's recent events: output lines may be missing here)")
		} else {
			v.line("(events missed while reconnecting are no longer kept: output lines are missing here)")
		}
	}
	return nil
}

// eventJSON prints ev as {"id", "event", "data"}, as the stream carries it.
func (v *watchView) eventJSON(ev client.Event) error {
	out := struct {
		ID    int64  `json:"id"`
		Event string `json:"event"`
		Data  any    `json:"data"`
	}{ID: ev.EventID(), Data: ev}
	switch e := ev.(type) {
	case *client.SnapshotEvent:
		out.Event, out.Data = "snapshot", e.Job
	case *client.StatusEvent:
		out.Event = "status"
	case *client.ProgressEvent:
		out.Event = "progress"
	case *client.LogEvent:
		out.Event = "log"
	case *client.ResetEvent:
		out.Event = "reset"
	case *client.DoneEvent:
		out.Event, out.Data = "done", e.Job
	}
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(v.w, "%s\n", line)
	return err
}

// line prints a line of its own, above the progress bar if one is shown.
func (v *watchView) line(format string, args ...any) {
	if v.barLine != "" {
		fmt.Fprint(v.w, "\r\033[K")
	}
	fmt.Fprintf(v.w, format+"\n", args...)
	if v.barLine != "" {
		fmt.Fprint(v.w, v.barLine)
	}
}

// progress shows a progress report: the bar redrawn, or a plain line.
func (v *watchView) progress(progress, total int64, message string) {
	text := formatProgress(progress, total, message)
	if text == "" {
		return // nothing reported yet
	}
	if !v.bar {
		v.line("progress: %s", text)
		return
	}
	const width = 30
	filled := 0
	percent := ""
	if total > 0 {
		filled = int(min(progress, total) * width / total)
		percent = fmt.Sprintf("%3d%% ", min(progress, total)*100/total)
	}
	v.barLine = fmt.Sprintf("[%s%s] %s%s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), percent, truncate(text, 40))
	fmt.Fprint(v.w, "\r\033[K"+v.barLine)
}

// end clears the progress bar, once Watch has returned.
func (v *watchView) end() {
	if v.barLine != "" {
		fmt.Fprint(v.w, "\r\033[K")
		v.barLine = ""
	}
}

// final prints how the job ended: its status, and its result or error.
func (v *watchView) final(job *client.JobDetail) {
	if v.asJSON {
		return // the done event said it all
	}
	switch job.Status {
	case client.StatusCompleted:
		fmt.Fprintf(v.w, "job %s completed\nresult: %s\n", job.ID, job.Result)
	case client.StatusFailed:
		fmt.Fprintf(v.w, "job %s failed: %s\n", job.ID, job.Error)
	default:
		fmt.Fprintf(v.w, "job %s %s\n", job.ID, job.Status)
	}
}
