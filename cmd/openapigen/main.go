// Command openapigen completes goctl's Swagger 2.0 description of api/jobs.api (goctl api
// swagger) into the OpenAPI 3.0 document the service serves at /api/v1/openapi.json. make gen
// runs it; its output is internal/openapi/openapi.json, embedded in the binary.
//
// goctl cannot say everything about this API, so the completion adds, in this order (each
// step is deterministic, so make gen leaves no diff):
//
//  1. Cleaning goctl's output: its x- keys go (one is the time of the run), a []T
//     response, which goctl writes as a $ref to T beside an inline items, becomes an array,
//     and a POST or DELETE route's form field, which goctl writes as a form body, becomes
//     the query parameter the service reads.
//
//  2. Conversion to OpenAPI 3.0.3 (kin-openapi's openapi2conv).
//
//  3. Nulls, which Swagger 2.0 cannot express: a property that is a pointer or an
//     interface{} in goctl's Go types (internal/types/types.go, generated from the same
//     file) is nullable. A string property whose name ends in "At" is an RFC 3339 time.
//
//  4. The envelope: every JSON success answer but the job list's (ListJobsResp, as
//     web.wrapOk has it) becomes {code: 0, message, data: <goctl's schema>}, a schema of its
//     own named after the data (JobDetailEnvelope, FunctionInfoListEnvelope).
//
//  5. Errors: each status of a route's @doc responses is the error envelope (Envelope), a
//     503 with its Retry-After header; a route with a security requirement (authType) gets
//     the 401 answer; every route gets the default answer for any other failure.
//
//  6. Event streams (@doc produces text/event-stream): the body is text.
//
//  7. The additions of api/openapi.patch.json, applied as a JSON merge patch (RFC 7386):
//     what api/jobs.api has no words for (the schemas of the envelope and the events, the
//     events of each stream as x-sse-events, the query token of the stream routes, the
//     security schemes, the probes and this document's own route, servers and tags).
//
//  8. Component schemas nothing refers to any more (goctl's request types, whose fields are
//     parameters) are dropped, and the document is validated.
//
//     go run ./cmd/openapigen -swagger jobs.json -patch api/openapi.patch.json \
//     -types internal/types/types.go -o internal/openapi/openapi.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	swagger := flag.String("swagger", "", "goctl api swagger's output (JSON)")
	patch := flag.String("patch", "api/openapi.patch.json", "additions, as a JSON merge patch")
	typesFile := flag.String("types", "internal/types/types.go", "goctl's Go types of the same api file")
	out := flag.String("o", "internal/openapi/openapi.json", "the document to write")
	flag.Parse()
	if err := run(*swagger, *patch, *typesFile, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(swaggerFile, patchFile, typesFile, outFile string) error {
	swagger, err := os.ReadFile(swaggerFile)
	if err != nil {
		return err
	}
	patch, err := os.ReadFile(patchFile)
	if err != nil {
		return err
	}
	nullable, err := nullableFields(typesFile)
	if err != nil {
		return err
	}
	doc, err := complete(swagger, patch, nullable)
	if err != nil {
		return err
	}
	return os.WriteFile(outFile, doc, 0o644)
}

// complete runs the steps of the package comment.
func complete(swagger, patch []byte, nullable map[string]map[string]bool) ([]byte, error) {
	v2, err := decode(swagger)
	if err != nil {
		return nil, fmt.Errorf("goctl's swagger: %w", err)
	}
	cleanGoctl(v2)
	doc, err := toV3(v2)
	if err != nil {
		return nil, err
	}
	markNulls(doc, nullable)
	for _, step := range []func(map[string]any) error{wrapInEnvelopes, describeErrors, streamsAreText} {
		if err := step(doc); err != nil {
			return nil, err
		}
	}
	additions, err := decode(patch)
	if err != nil {
		return nil, fmt.Errorf("the patch: %w", err)
	}
	doc = mergePatch(doc, additions).(map[string]any)
	dropUnreferencedSchemas(doc)
	encoded, err := encode(doc)
	if err != nil {
		return nil, err
	}
	return encoded, validate(encoded)
}

// validate loads the document as a client would (every $ref must resolve) and checks it
// against the OpenAPI 3.0 rules.
func validate(encoded []byte) error {
	loader := openapi3.NewLoader()
	loaded, err := loader.LoadFromData(encoded)
	if err != nil {
		return fmt.Errorf("load the completed document: %w", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		return fmt.Errorf("the completed document is not valid OpenAPI: %w", err)
	}
	return nil
}

func decode(data []byte) (map[string]any, error) {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// encode writes v with sorted keys (encoding/json sorts map keys), two-space indents and
// no HTML escaping, so the file reads well and is the same on every run.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
