package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"

	"jobs/internal/types"
)

// PingInterval is how often an idle stream gets a ": ping" comment (API.md: at least every 15 s).
const PingInterval = 10 * time.Second

// ServeEvents runs produce, which sends events on client and returns when the stream is over,
// and writes the events as Server-Sent Events. An error returned before the first event is
// answered as a normal JSON envelope (a 404 for an unknown job, say), so the stream
// only starts once there is something to stream.
func ServeEvents(w http.ResponseWriter, r *http.Request, produce func(client chan<- *types.StreamEvent) error) {
	ctx := r.Context()
	client := make(chan *types.StreamEvent, 16)
	produced := make(chan error, 1)
	go func() {
		defer close(client)
		produced <- produce(client)
	}()

	var first *types.StreamEvent
	select {
	case ev, ok := <-client:
		if !ok {
			if err := <-produced; err != nil {
				httpx.ErrorCtx(ctx, w, err)
			}
			return
		}
		first = ev
	case <-ctx.Done():
		drain(client)
		return
	}

	flusher, _ := w.(http.Flusher)
	w.WriteHeader(http.StatusOK)
	ping := time.NewTicker(PingInterval)
	defer ping.Stop()
	defer drain(client)
	for ev := first; ; {
		if ev != nil {
			if err := writeEvent(w, ev); err != nil {
				return
			}
			flusher.Flush()
		}
		ev = nil
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
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			flusher.Flush()
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

// drain empties client until the producer closes it, so the producer never blocks on a
// stream nobody reads. Producers watch the request context and stop soon after it ends.
func drain(client <-chan *types.StreamEvent) {
	for range client {
	}
}
