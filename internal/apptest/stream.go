package apptest

import (
	"net/http"

	"jobs/internal/testutil"
)

// OpenStream opens the job's event stream; lastEventID, if not empty, is sent as
// Last-Event-ID. It fails the test unless the server answers 200 text/event-stream.
// The stream is closed when the test ends.
func (a *App) OpenStream(jobID, lastEventID string) *testutil.Stream {
	a.t.Helper()
	return a.OpenStreamAt("/api/v1/jobs/"+jobID+"/stream", lastEventID)
}

// OpenStreamAt opens the event stream at path (e.g. /api/v1/events), like OpenStream.
func (a *App) OpenStreamAt(path, lastEventID string) *testutil.Stream {
	a.t.Helper()
	s, status, body := a.TryStreamAt(path, lastEventID)
	if s == nil {
		a.t.Fatalf("stream %s: %d %s", path, status, body)
	}
	return s
}

// TryStream opens the job's event stream; when the answer is not a stream it returns nil
// with the status and body.
func (a *App) TryStream(jobID, lastEventID string) (*testutil.Stream, int, string) {
	a.t.Helper()
	return a.TryStreamAt("/api/v1/jobs/"+jobID+"/stream", lastEventID)
}

// TryStreamAt opens the event stream at path (e.g. /api/v1/events), like TryStream.
func (a *App) TryStreamAt(path, lastEventID string) (*testutil.Stream, int, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	return testutil.OpenStream(a.t, a.httpClient(), req)
}
