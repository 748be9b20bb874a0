package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxSleepSeconds bounds the sleep built-in.
const MaxSleepSeconds = 3600

// Builtins returns the built-in functions.
func Builtins() []*Definition {
	return []*Definition{
		{
			ID:          "echo",
			Kind:        "builtin",
			Description: "Completes at once with its params as the result.",
			Timeout:     time.Minute,
			MaxAttempts: 3,
			Run: func(_ context.Context, call Call, _ Reporter) (any, error) {
				return call.Params, nil
			},
		},
		{
			ID:          "sleep",
			Kind:        "builtin",
			Description: "Sleeps params.seconds (0..3600, default 1), reporting progress every second; honours cancel.",
			Timeout:     (MaxSleepSeconds + 60) * time.Second,
			MaxAttempts: 3,
			CheckParams: func(params map[string]any) error {
				raw, err := json.Marshal(params)
				if err != nil {
					return err
				}
				_, err = sleepSeconds(raw)
				return err
			},
			Run: runSleep,
		},
		{
			ID:          "fail",
			Kind:        "builtin",
			Description: "Fails at once with params.message (default \"failed\"); never retried.",
			Timeout:     time.Minute,
			MaxAttempts: 1,
			Run: func(_ context.Context, call Call, _ Reporter) (any, error) {
				var p struct {
					Message *string `json:"message"`
				}
				message := "failed"
				if err := json.Unmarshal(call.Params, &p); err == nil && p.Message != nil && *p.Message != "" {
					message = *p.Message
				}
				return nil, Permanent(errors.New(message))
			},
		},
	}
}

// sleepSeconds reads the sleep built-in's params.seconds (1 when absent or null). A start
// checks it (CheckParams, a 400), and so does a run, for a job stored before that check.
func sleepSeconds(params json.RawMessage) (float64, error) {
	var p struct {
		Seconds json.RawMessage `json:"seconds"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return 0, fmt.Errorf("params must be a JSON object: %v", err)
	}
	if len(p.Seconds) == 0 || string(p.Seconds) == "null" {
		return 1, nil
	}
	var seconds float64
	if err := json.Unmarshal(p.Seconds, &seconds); err != nil || seconds < 0 || seconds > MaxSleepSeconds {
		return 0, fmt.Errorf("params.seconds must be a number from 0 to %d, not %s", MaxSleepSeconds, p.Seconds)
	}
	return seconds, nil
}

func runSleep(ctx context.Context, call Call, report Reporter) (any, error) {
	seconds, err := sleepSeconds(call.Params)
	if err != nil {
		return nil, Permanent(err)
	}
	steps := int64(math.Max(1, math.Ceil(seconds)))
	step := time.Duration(seconds * float64(time.Second) / float64(steps))
	report.Progress(0, steps, "sleeping")
	timer := time.NewTimer(step)
	defer timer.Stop()
	for done := int64(1); done <= steps; done++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		report.Progress(done, steps, fmt.Sprintf("slept %d of %d", done, steps))
		timer.Reset(step)
	}
	return map[string]any{"slept": seconds}, nil
}
