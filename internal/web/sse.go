package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/types"
)

const (
	// PingInterval is how often a stream gets a ": ping" comment (API.md: at least every 15 s).
	PingInterval = 10 * time.Second
	// writeTimeout bounds one write to a stream, so a client that stopped reading is cut off
	// instead of holding its goroutines forever.
	writeTimeout = 30 * time.Second
)

// ServeEvents runs produce, which sends events on client until the stream is over, and
// writes them as Server-Sent Events. An error returned before the first event is answered
// as a JSON envelope (a 404 for an unknown job, say): the stream only starts once there is
// something to stream. produce's context ends when the client goes away or the stream ends.
func ServeEvents(w http.ResponseWriter, r *http.Request, produce func(ctx context.Context, client chan<- *types.StreamEvent) error) {
	ctx, cancel := context.WithCancel(r.Context())
	client := make(chan *types.StreamEvent, 16)
	produced := make(chan error, 1)
	go func() {
		defer close(client)
		produced <- produce(ctx, client)
	}()
	defer func() {
		cancel()
		for range client { // let the producer finish before the handler returns
		}
	}()

	var first *types.StreamEvent
	select {
	case ev, ok := <-client:
		if !ok {
			if err := <-produced; err != nil {
				httpx.ErrorCtx(r.Context(), w, err)
			}
			return
		}
		first = ev
	case <-ctx.Done():
		return
	}

	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	ping := time.NewTicker(PingInterval)
	defer ping.Stop()
	for ev := first; ; {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		var err error
		if ev != nil {
			err = writeEvent(w, ev)
		} else {
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
		select {
		case next, ok := <-client:
			if !ok {
				if err := <-produced; err != nil {
					logx.WithContext(ctx).Errorf("event stream ended: %v", err)
				}
				return
			}
			ev = next
		case <-ping.C:
			ev = nil
		case <-ctx.Done():
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, ev *types.StreamEvent) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Id, ev.Event, data)
	return err
}
