package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"jobs/internal/apperr"
	"jobs/internal/suggest"
)

// unknownKeys returns an InvalidArgument error naming, by its path ("filter.stauts",
// "jobs[1].parms"), each key of the JSON body data that the request type t has no field
// for, or nil. encoding/json drops such keys, and a dropped key changes what a request does:
// a bulk filter with a typo matched every job, a start's "parms" ran the job without params.
// Values the type leaves free-form (params: an interface or raw JSON) are not looked into.
func unknownKeys(data []byte, t reflect.Type) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return nil // decodeJSONBody has refused it already
	}
	var problems []string
	collectUnknown(t, doc, "", &problems)
	if len(problems) == 0 {
		return nil
	}
	return apperr.Invalid("%s", strings.Join(problems, "; "))
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// collectUnknown adds to problems the unknown keys of v, the body's value at path for a
// value of type t.
func collectUnknown(t reflect.Type, v any, path string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // decodes itself (json.RawMessage, time.Time)
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := bodyFieldsOf(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			keyPath := key
			if path != "" {
				keyPath = path + "." + key
			}
			if f, ok := fields.byFold[foldKey(key)]; ok {
				collectUnknown(f.typ, obj[key], keyPath, problems)
				continue
			}
			problem := fmt.Sprintf("unknown field %q", keyPath)
			if best := suggest.Closest(key, fields.names); best != "" {
				problem += fmt.Sprintf(" (did you mean %s?)", best)
			}
			*problems = append(*problems, problem)
		}
	case reflect.Map: // a map's values are looked into as encoding/json decodes them: by their type
		obj, _ := v.(map[string]any)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			collectUnknown(t.Elem(), obj[key], path+"."+key, problems)
		}
	case reflect.Slice, reflect.Array:
		items, _ := v.([]any)
		for i, item := range items {
			collectUnknown(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i), problems)
		}
	}
}

// bodyFields are the keys a struct takes from a JSON body.
type bodyFields struct {
	byFold map[string]bodyField // by foldKey of the name
	names  []string
}

type bodyField struct {
	name string
	typ  reflect.Type
}

var bodyFieldsCache sync.Map // reflect.Type -> *bodyFields

// bodyFieldsOf returns the keys encoding/json fills fields of struct t from: each exported
// field by its json name or, untagged, its Go name, with an embedded struct's keys at t's
// level. A field goctl tags for the path, a header or the query only is no body key.
func bodyFieldsOf(t reflect.Type) *bodyFields {
	if cached, ok := bodyFieldsCache.Load(t); ok {
		return cached.(*bodyFields)
	}
	fields := &bodyFields{byFold: map[string]bodyField{}}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, tagged := f.Tag.Lookup("json")
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case tag == "-": // never decoded ("-," is the key "-")
			case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
				add(ft)
			case !f.IsExported():
			case !tagged && f.Tag != "": // a path, header or query parameter
			default:
				if name == "" {
					name = f.Name
				}
				fields.byFold[foldKey(name)] = bodyField{name: name, typ: f.Type}
				fields.names = append(fields.names, name)
			}
		}
	}
	add(t)
	bodyFieldsCache.Store(t, fields)
	return fields
}

// foldKey is how encoding/json compares a body key with a field name: ignoring case.
func foldKey(s string) string { return strings.ToUpper(strings.ToLower(s)) }
