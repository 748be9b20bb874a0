package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
)

// The documents are handled as decoded JSON (maps), which the merge patch needs anyway;
// the result is loaded and validated with kin-openapi at the end.

const (
	schemaRefs   = "#/components/schemas/"
	envelopeRef  = schemaRefs + "Envelope"
	retryAfter   = "#/components/headers/RetryAfter"
	unauthorized = "#/components/responses/Unauthorized"
	otherErrors  = "#/components/responses/Error"
)

// bareResponses are the response types that leave without the envelope (API.md: the job
// list), and envelopeMessages the envelope messages other than "ok" (web.wrapOk).
var (
	bareResponses    = map[string]bool{"ListJobsResp": true}
	envelopeMessages = map[string]string{"CancelJobResp": "cancelled"}
)

// cleanGoctl drops goctl's x- keys (x-date changes on every run) and its allowEmptyValue
// (OpenAPI 3 deprecates it; an empty filter is no filter anyway), and repairs its schemas:
// a schema with a $ref keeps only the $ref (Swagger 2.0 ignores what is beside it; goctl puts
// a copy of the referenced schema there), except that a $ref beside items is goctl's way of
// writing an array of the referenced type. A form field of a POST or DELETE route (goctl's
// formData, sent as a form body) becomes a query parameter: the service reads form fields
// from the query string only (web.Parse), as on every other route.
func cleanGoctl(v2 map[string]any) {
	for k := range v2 {
		if strings.HasPrefix(k, "x-") {
			delete(v2, k)
		}
	}
	walk(v2, func(m map[string]any) {
		delete(m, "allowEmptyValue")
		if m["in"] == "formData" {
			m["in"] = "query"
		}
		if consumes, ok := m["consumes"].([]any); ok && slices.Equal(consumes, []any{"application/x-www-form-urlencoded"}) {
			delete(m, "consumes")
		}
		ref, ok := m["$ref"]
		if !ok {
			return
		}
		_, isArray := m["items"]
		clear(m)
		if isArray {
			m["type"] = "array"
			m["items"] = map[string]any{"$ref": ref}
			return
		}
		m["$ref"] = ref
	})
}

// toV3 converts the Swagger 2.0 document to OpenAPI 3.0.3.
func toV3(v2 map[string]any) (map[string]any, error) {
	data, err := json.Marshal(v2)
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(data, &doc2); err != nil {
		return nil, fmt.Errorf("goctl's swagger: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if data, err = json.Marshal(doc3); err != nil {
		return nil, err
	}
	doc, err := decode(data)
	if err != nil {
		return nil, err
	}
	// The converter's note of the Swagger 2.0 body parameter's name means nothing here.
	walk(doc, func(m map[string]any) { delete(m, "x-originalParamName") })
	return doc, nil
}

// markNulls makes nullable the properties that are pointers or interface{} in goctl's Go
// types (nullable[type][property]) and gives time properties their format. A nullable
// $ref is written as an allOf of the one $ref, since OpenAPI 3.0 ignores what is beside a
// $ref.
func markNulls(doc map[string]any, nullable map[string]map[string]bool) {
	for name, schema := range obj(obj(doc, "components"), "schemas") {
		for prop, v := range obj(schema.(map[string]any), "properties") {
			p := v.(map[string]any)
			if p["type"] == "string" && strings.HasSuffix(prop, "At") {
				p["format"] = "date-time"
			}
			if !nullable[name][prop] {
				continue
			}
			if ref, ok := p["$ref"]; ok {
				delete(p, "$ref")
				p["allOf"] = []any{map[string]any{"$ref": ref}}
			}
			p["nullable"] = true
		}
	}
}

// wrapInEnvelopes puts every JSON success answer but the bare ones in the envelope, a
// component schema of its own per data type.
func wrapInEnvelopes(doc map[string]any) error {
	schemas := obj(obj(doc, "components"), "schemas")
	return eachOperation(doc, func(where string, op map[string]any) error {
		for status, r := range obj(op, "responses") {
			if !strings.HasPrefix(status, "2") {
				continue
			}
			media := obj(obj(r.(map[string]any), "content"), "application/json")
			if media == nil {
				continue
			}
			data := obj(media, "schema")
			name, err := dataName(data)
			if err != nil {
				return fmt.Errorf("%s %s: %w", where, status, err)
			}
			if bareResponses[name] {
				continue
			}
			message := envelopeMessages[name]
			if message == "" {
				message = "ok"
			}
			schemas[name+"Envelope"] = map[string]any{
				"type":     "object",
				"required": []any{"code", "message", "data"},
				"properties": map[string]any{
					"code":    map[string]any{"type": "integer", "description": "0: the request succeeded", "example": 0},
					"message": map[string]any{"type": "string", "example": message},
					"data":    data,
				},
			}
			media["schema"] = map[string]any{"$ref": schemaRefs + name + "Envelope"}
		}
		return nil
	})
}

// dataName names the envelope of data: the referenced type, or the item type + "List".
func dataName(data map[string]any) (string, error) {
	if ref, ok := data["$ref"].(string); ok {
		return strings.TrimPrefix(ref, schemaRefs), nil
	}
	if data["type"] == "array" {
		if ref, ok := obj(data, "items")["$ref"].(string); ok {
			return strings.TrimPrefix(ref, schemaRefs) + "List", nil
		}
	}
	return "", fmt.Errorf("cannot name the envelope of an inline schema %v", data)
}

// describeErrors gives each error status of a route's @doc the error envelope (with
// Retry-After on a 503), routes with a security requirement the 401 answer, every route the
// default answer for other failures, and any answer without a description its status text.
func describeErrors(doc map[string]any) error {
	return eachOperation(doc, func(where string, op map[string]any) error {
		responses := obj(op, "responses")
		for status, r := range responses {
			response := r.(map[string]any)
			code, err := strconv.Atoi(status)
			if err != nil {
				return fmt.Errorf("%s: response %q is not a status", where, status)
			}
			if response["description"] == "" {
				response["description"] = http.StatusText(code)
			}
			if code < 400 {
				continue
			}
			response["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": envelopeRef}}}
			if code == http.StatusServiceUnavailable {
				response["headers"] = map[string]any{"Retry-After": map[string]any{"$ref": retryAfter}}
			}
		}
		if security, _ := op["security"].([]any); len(security) > 0 {
			responses["401"] = map[string]any{"$ref": unauthorized}
		}
		responses["default"] = map[string]any{"$ref": otherErrors}
		return nil
	})
}

// streamsAreText makes the body of every event stream text: its events and their data
// schemas are listed by the patch (x-sse-events), since OpenAPI 3.0 has no words for them.
func streamsAreText(doc map[string]any) error {
	return eachOperation(doc, func(_ string, op map[string]any) error {
		for _, r := range obj(op, "responses") {
			if media := obj(obj(r.(map[string]any), "content"), "text/event-stream"); media != nil {
				media["schema"] = map[string]any{"type": "string"}
			}
		}
		return nil
	})
}

// mergePatch applies patch to target as RFC 7386 has it: objects merge key by key, null
// deletes a key, anything else replaces.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// dropUnreferencedSchemas removes the component schemas that nothing outside them refers
// to, directly or through other schemas.
func dropUnreferencedSchemas(doc map[string]any) {
	schemas := obj(obj(doc, "components"), "schemas")
	own := maps.Clone(schemas)
	clear(schemas) // so that the walk below sees only what lies outside them
	used := map[string]bool{}
	var queue []string
	mark := func(m map[string]any) {
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, schemaRefs) {
			if name := strings.TrimPrefix(ref, schemaRefs); !used[name] {
				used[name] = true
				queue = append(queue, name)
			}
		}
	}
	walk(doc, mark)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if s, ok := own[name]; ok {
			walk(s, mark)
		}
	}
	for name, s := range own {
		if used[name] {
			schemas[name] = s
		}
	}
}

// eachOperation calls f with every operation of the document, in a fixed order, and
// stops at its first error.
func eachOperation(doc map[string]any, f func(where string, op map[string]any) error) error {
	paths := obj(doc, "paths")
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item := paths[path].(map[string]any)
		for _, method := range slices.Sorted(maps.Keys(item)) {
			op, ok := item[method].(map[string]any)
			if !ok || !isMethod(method) {
				continue
			}
			if err := f(strings.ToUpper(method)+" "+path, op); err != nil {
				return err
			}
		}
	}
	return nil
}

func isMethod(key string) bool {
	switch key {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// obj returns m[key] as an object, nil if it is not one.
func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// walk calls f with every object in v, parents before children.
func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, child := range v {
			walk(child, f)
		}
	case []any:
		for _, child := range v {
			walk(child, f)
		}
	}
}
