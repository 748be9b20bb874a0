// Package web adapts go-zero's HTTP layer to API.md: request parsing with messages that
// name the field, the response envelope (also for go-zero's own bodiless answers), the body
// limit, JSON 404/405 responses, the stream route's query-string token, and keeping tokens
// out of the logs.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/zeromicro/go-zero/rest"
	"github.com/zeromicro/go-zero/rest/httpx"
	"github.com/zeromicro/go-zero/rest/router"

	"jobs/internal/apperr"
	"jobs/internal/types"
)

// InstallHooks sets go-zero's process-wide response hooks (its documented extension points):
// every error goes through apperr.Response and every success is wrapped in the envelope.
func InstallHooks() {
	httpx.SetErrorHandlerCtx(apperr.Response)
	httpx.SetOkHandler(wrapOk)
}

// wrapOk puts a successful response in the envelope. API.md leaves the job list bare and
// gives cancel the message "cancelled"; a schedule's delete answers "deleted".
func wrapOk(_ context.Context, v any) any {
	switch v.(type) {
	case *types.ListJobsResp:
		return v
	case *types.CancelJobResp:
		return apperr.Envelope{Message: "cancelled", Data: v}
	case *types.Schedule:
		return apperr.Envelope{Message: "deleted", Data: v}
	}
	return apperr.Envelope{Message: "ok", Data: v}
}

// ServerOptions are the run options that keep even unrouted requests in the envelope, let the stream route take its token from the query string and, for
// corsOrigins, answer CORS preflights and add CORS headers to every response.
func ServerOptions(corsOrigins []string) []rest.RunOption {
	opts := []rest.RunOption{rest.WithRouter(queryTokenRouter{router.NewRouter()})}
	if len(corsOrigins) > 0 {
		// go-zero's CORS wraps the router, so preflights are answered before routing and
		// authentication, and 401s and 404s carry the headers too. EventSource resends
		// Last-Event-ID when it reconnects.
		opts = append(opts, rest.WithCustomCors(func(h http.Header) {
			h.Add("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control")
		}, nil, corsOrigins...))
	}
	// After the CORS option, which installs its own (plain 404) not-allowed handler.
	return append(opts,
		rest.WithNotFoundHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.ErrorCtx(r.Context(), w, apperr.New(apperr.NotFound, "no route for %s %s", r.Method, r.URL.Path))
		})),
		rest.WithNotAllowedHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apperr.Write(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path), nil)
		})),
	)
}

// LimitBody rejects bodies over limit bytes with a 413 envelope. It replaces go-zero's
// MaxBytes middleware, which answers 413 with an empty body and ignores chunked bodies.
func LimitBody(limit int64) rest.Middleware {
	return func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				httpx.ErrorCtx(r.Context(), w, &http.MaxBytesError{Limit: limit})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next(w, r)
		}
	}
}

// Parse fills v from the request: path, header and query parameters through go-zero, the JSON body
// through encoding/json (go-zero's mapper cannot fill interface{} fields such as params).
// Every failure is an InvalidArgument (or TooLarge) error naming what was wrong. A source the
// type has no field for is not mapped (go-zero's reflection over a start's fields for its
// path, headers and query found nothing, at every request), but the query string and
// Content-Type are still read for the errors go-zero's form parser gives.
func Parse(r *http.Request, v any) error {
	from := sourcesOf(reflect.TypeOf(v))
	if from.body {
		if err := decodeJSONBody(r.Body, v); err != nil {
			return err
		}
	}
	if from.path {
		if err := httpx.ParsePath(r, v); err != nil {
			return apperr.Wrap(apperr.InvalidArgument, err, "invalid path parameter: %v", err)
		}
	}
	if from.header {
		if err := httpx.ParseHeaders(r, v); err != nil {
			return apperr.Wrap(apperr.InvalidArgument, err, "invalid header: %v", err)
		}
	}
	// The body is JSON whatever its Content-Type says (curl -d sends a form type), so the
	// form parser only gets the query string.
	queryOnly := *r
	queryOnly.Body = http.NoBody
	var err error
	if from.query {
		err = httpx.ParseForm(&queryOnly, v)
	} else {
		_, err = httpx.GetFormValues(&queryOnly)
	}
	if err != nil {
		return apperr.Wrap(apperr.InvalidArgument, err, "invalid query parameter: %v", err)
	}
	return onlyOnce(queryOnly.Form, from.queryNames)
}

// onlyOnce refuses a query parameter of names given more than one value. go-zero's mapper
// reads the first and drops the rest, so "status=pending&status=failed" listed the pending
// jobs alone. Empty values are no values to go-zero, nor here; "name[]" is go-zero's "name".
func onlyOnce(form url.Values, names []string) error {
	for _, name := range names {
		given := 0
		for _, v := range slices.Concat(form[name], form[name+"[]"]) {
			if v != "" {
				given++
			}
		}
		if given > 1 {
			return apperr.Invalid("%s is given %d times; give it once", name, given)
		}
	}
	return nil
}

func decodeJSONBody(body io.Reader, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return apperr.Wrap(apperr.InvalidArgument, err, "cannot read request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return apperr.Invalid("request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// encoding/json finds an unknown key in the one decode (a second walk of every body
	// cost the batch route a decode of its 1,000 jobs again); unknownKeys then names them all.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			if named := unknownKeys(data, reflect.TypeOf(v)); named != nil {
				return named
			}
			return apperr.Wrap(apperr.InvalidArgument, err, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return describeJSONError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Invalid("request body must hold a single JSON object")
	}
	return nil
}

func describeJSONError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return apperr.Wrap(apperr.InvalidArgument, err, "request body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return apperr.Wrap(apperr.InvalidArgument, err, "request body must be a JSON object, not %s", typeErr.Value)
	case errors.As(err, &typeErr):
		field := jsonPathAt(data, typeErr.Offset, typeErr.Field)
		if field == "" {
			field = typeErr.Field
		}
		return apperr.Wrap(apperr.InvalidArgument, err, "%s must be %s, not %s", field, jsonKind(typeErr.Type), typeErr.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Wrap(apperr.InvalidArgument, err, "request body is not valid JSON: unexpected end of input")
	}
	return apperr.Wrap(apperr.InvalidArgument, err, "request body is not valid JSON: %v", err)
}

// jsonPathAt returns the path, with array indexes, of the value of data that ends at offset
// ("jobs[1].functionId", where encoding/json says "jobs.functionId"), or "" if none does.
// Its keys are named as in field, encoding/json's path of the value: encoding/json matches
// keys regardless of case, and the answer names the field ("maxAttempts"), not the body's
// spelling of it ("MAXATTEMPTS").
func jsonPathAt(data []byte, offset int64, field string) string {
	names := strings.Split(field, ".")
	type frame struct {
		array   bool
		index   int
		key     string
		wantKey bool
	}
	var stack []*frame
	path := func() string {
		var b strings.Builder
		keys := 0
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
			} else if f.key != "" {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				key := f.key
				if keys < len(names) && strings.EqualFold(key, names[keys]) {
					key = names[keys]
				}
				keys++
				b.WriteString(key)
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].wantKey = true
			}
			continue
		}
		if top != nil && !top.array && top.wantKey {
			top.key, top.wantKey = tok.(string), false
			continue
		}
		if top != nil && top.array {
			top.index++
		}
		if dec.InputOffset() >= offset {
			return path()
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{array: d == '[', index: -1, wantKey: d == '{'})
		} else if top != nil && !top.array {
			top.wantKey = true
		}
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// sources are the parts of a request a request type is filled from.
type sources struct {
	body, path, header, query bool
	queryNames                []string // the query parameters of the type's form tags
}

var sourcesCache sync.Map // reflect.Type -> sources

// sourcesOf returns the sources type t reads. goctl tags every field with the one source it
// is read from: json for the body, path, header or form for the query. go-zero's mapper skips a
// field tagged for other sources only; an untagged or embedded field might be read from any.
func sourcesOf(t reflect.Type) sources {
	if cached, ok := sourcesCache.Load(t); ok {
		return cached.(sources)
	}
	var from sources
	s := t
	for s.Kind() == reflect.Pointer {
		s = s.Elem()
	}
	if s.Kind() == reflect.Struct {
		for i := range s.NumField() {
			f := s.Field(i)
			if f.Anonymous || f.Tag == "" {
				from.path, from.header, from.query = true, true, true
			}
			if tag, ok := f.Tag.Lookup("json"); ok && !strings.HasPrefix(tag, "-") {
				from.body = true
			}
			_, path := f.Tag.Lookup("path")
			_, header := f.Tag.Lookup("header")
			form, query := f.Tag.Lookup("form")
			from.path, from.header, from.query = from.path || path, from.header || header, from.query || query
			if name, _, _ := strings.Cut(form, ","); name != "" {
				from.queryNames = append(from.queryNames, name)
			}
		}
	}
	sourcesCache.Store(t, from)
	return from
}
