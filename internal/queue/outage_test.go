package queue_test

import (
	"errors"
	"io"
	"testing"

	"github.com/redis/go-redis/v9"

	"jobs/internal/queue"
)

// replyError is an error reply of Redis, as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestIsUnavailableTellsOutagesFromAnswers(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		io.EOF:               true,
		redis.ErrPoolTimeout: true,
		replyError("LOADING Redis is loading the dataset in memory"):        true,
		replyError("BUSY Redis is busy running a script"):                   true,
		replyError("READONLY You can't write against a read only replica."): true,
		replyError("BUSYGROUP Consumer Group name already exists"):          false,
		replyError("NOGROUP No such key"):                                   false,
		replyError("NOSCRIPT No matching script"):                           false,
		redis.Nil:              false,
		errors.New("some bug"): false,
	} {
		if got := queue.IsUnavailable(err); got != want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, want)
		}
	}
}
