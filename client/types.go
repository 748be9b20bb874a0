package client

import (
	"encoding/json"
	"time"
)

// Status is a job's status.
type Status string

const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether a job in status s can no longer change.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// JobItem is a job as lists show it, without its result.
type JobItem struct {
	ID         string `json:"id"`
	TenantID   string `json:"tenantId"`
	FunctionID string `json:"functionId"`
	Name       string `json:"name"`
	Status     Status `json:"status"`
	// Params is the JSON object the job was started with.
	Params json.RawMessage `json:"params"`
	// Error says why the job failed, or why its last attempt did while it is retried.
	Error string `json:"error"`
	// Progress of Total (0 = unknown) is the work done as the function last reported it,
	// with its Message.
	Progress int64  `json:"progress"`
	Total    int64  `json:"total"`
	Message  string `json:"message"`
	Actor    string `json:"actor"`
	GameID   string `json:"gameId"`
	Env      string `json:"env"`
	// Attempt is the number of attempts started so far, of MaxAttempts.
	Attempt        int64     `json:"attempt"`
	MaxAttempts    int64     `json:"maxAttempts"`
	TimeoutSeconds float64   `json:"timeoutSeconds"`
	CallbackURL    string    `json:"callbackUrl"`
	CreatedAt      time.Time `json:"createdAt"`
	// RunAt is when the job (or its next attempt) may start; nil for at once.
	RunAt      *time.Time `json:"runAt"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	// RerunOf is the job this one reruns; empty for others.
	RerunOf string `json:"rerunOf"`
	// ScheduleID and ScheduledFor name the schedule and fire time that started the job.
	ScheduleID   string     `json:"scheduleId"`
	ScheduledFor *time.Time `json:"scheduledFor"`
}

// JobDetail is a job with its result: what Start, Get and Cancel return.
type JobDetail struct {
	JobItem
	// Result is a completed job's output (JSON null otherwise).
	Result json.RawMessage `json:"result"`
	// LogTail is the last output lines of a command function's latest attempt.
	LogTail []LogLine `json:"logTail"`
	// Callback is the delivery to CallbackURL; nil without one.
	Callback *CallbackState `json:"callback"`
}

// LogLine is one output line of a command function.
type LogLine struct {
	Stream string `json:"stream"` // stdout or stderr
	Line   string `json:"line"`
}

// CallbackState is the delivery of a job's completion callback.
type CallbackState struct {
	Status        string     `json:"status"` // pending, delivered or failed
	Attempts      int64      `json:"attempts"`
	LastError     string     `json:"lastError"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
	DeliveredAt   *time.Time `json:"deliveredAt"`
}

// JobResult is a job's outcome as the result route tells it.
type JobResult struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Result is a completed job's output; JSON null until then and for other outcomes.
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	FinishedAt *time.Time      `json:"finishedAt"`
}

// JobList is one page of jobs.
type JobList struct {
	Jobs []JobItem `json:"jobs"`
	// Total counts the matches across all pages; when TotalIsEstimate, more jobs match
	// than the service counts exactly and Total is a lower bound.
	Total           int64 `json:"total"`
	TotalIsEstimate bool  `json:"totalIsEstimate"`
	Page            int64 `json:"page"`
	Size            int64 `json:"size"`
}

// Function is a function the service runs.
type Function struct {
	ID             string   `json:"id"`
	Kind           string   `json:"kind"` // builtin, command or http
	Description    string   `json:"description"`
	TimeoutSeconds float64  `json:"timeoutSeconds"`
	MaxAttempts    int64    `json:"maxAttempts"`
	RequiredParams []string `json:"requiredParams"`
}
