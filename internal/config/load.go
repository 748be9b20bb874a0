package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/prometheus"
	"github.com/zeromicro/go-zero/core/service"
	"github.com/zeromicro/go-zero/rest"
	"gopkg.in/yaml.v2"

	"jobs/internal/suggest"
)

// The development secrets, the defaults of Auth.AccessSecret and Callbacks.Secret (and the
// values in etc/jobs.yaml): anyone who can read the repository knows them.
const (
	DevAccessSecret   = "jobs-dev-secret-do-not-use-in-production"
	DevCallbackSecret = "jobs-dev-callback-secret-do-not-use-in-production"
)

// Load reads file into c as go-zero's conf.Load does, after refusing what go-zero would
// take silently or refuse without naming the key (CheckFile): go-zero ignores unknown keys,
// so a typo such as MySQL.DataSouce would start the service on the default database, and
// says only "wrong number range setting" of Worker.Concurrency: 99999.
func Load(file string, c *Config) error {
	content, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := CheckFile(filepath.Ext(file), content); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := conf.Load(file, c); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// CheckFile returns an error naming each key of content (YAML or JSON, by ext) that Config
// does not have, or whose value go-zero would refuse without naming the key or take and
// fail on later (see checkValue), every one and not only the first, joined as Check joins its errors. Keys
// match as go-zero matches them: case-insensitively, with embedded structs' keys at their
// parent's level, into nested structs, maps of structs and list items
// (Functions[1].Command.Argv). Other formats go-zero reads (TOML, JSON5) are not checked.
func CheckFile(ext string, content []byte) error {
	switch strings.ToLower(ext) {
	case ".yaml", ".yml", ".json":
	default:
		return nil
	}
	var doc any
	if err := yaml.Unmarshal(content, &doc); err != nil { // the parser go-zero uses
		return err
	}
	var errs []error
	checkFile(reflect.TypeOf(Config{}), "", doc, "", &errs)
	return errors.Join(errs...)
}

// checkFile adds to errs the problems of v, the file's value at path for a key of type t
// and json tag tag.
func checkFile(t reflect.Type, tag string, v any, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[any]any)
		if !ok {
			return // not a mapping: go-zero reports the type
		}
		fields := keysOf(t)
		for _, key := range sortedKeys(m) {
			if f, ok := fields[strings.ToLower(key)]; ok {
				checkFile(f.typ, f.tag, m[key], join(path, key), errs)
			} else {
				*errs = append(*errs, unknownKey(join(path, key), key, fields))
			}
		}
	case reflect.Map:
		if m, ok := v.(map[any]any); ok {
			for _, key := range sortedKeys(m) {
				checkFile(t.Elem(), "", m[key], join(path, key), errs)
			}
		}
	case reflect.Slice, reflect.Array:
		if items, ok := v.([]any); ok {
			for i, item := range items {
				checkFile(t.Elem(), "", item, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	default:
		if err := checkValue(t, tag, v, path); err != nil {
			*errs = append(*errs, err)
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// checkValue returns an error naming the key at path, and what it may be, when v is a value
// go-zero would refuse with a message that does not name the key: a number outside the
// tag's range (go-zero: "wrong number range setting"), a string not among its options, a
// fraction for a whole number, or a duration without its unit; or a port go-zero takes and
// fails on later (portKeys). Values of the wrong type are left to go-zero, whose message
// names the key.
func checkValue(t reflect.Type, tag string, v any, path string) error {
	if t == durationType {
		switch d := v.(type) {
		case int, int64, uint64, float64:
			return fmt.Errorf("%s (%v) needs a unit: a duration such as 20s, 500ms or 1h30m", path, v)
		case nil:
			v = ""
		case string:
			if _, err := time.ParseDuration(d); err == nil {
				return nil
			}
		default:
			return nil
		}
		return fmt.Errorf("%s (%q) is not a duration such as 20s, 500ms or 1h30m", path, v)
	}
	switch t.Kind() {
	case reflect.String:
		var s string
		switch v.(type) {
		case nil:
		case string, int, int64, uint64, float64: // go-zero takes a number as its text
			s = fmt.Sprint(v)
		default:
			return nil
		}
		if options := tagOptions(tag); len(options) > 0 && !slices.Contains(options, s) {
			return fmt.Errorf("%s must be %s, not %q", path, strings.Join(options[:len(options)-1], ", ")+" or "+options[len(options)-1], s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		var n float64
		switch x := v.(type) {
		case int:
			n = float64(x)
		case int64:
			n = float64(x)
		case uint64:
			n = float64(x)
		case float64:
			n = x
		default:
			return nil
		}
		if t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64 && n != math.Trunc(n) {
			return fmt.Errorf("%s (%v) must be a whole number", path, v)
		}
		if allowed := outOfRange(n, tagOption(tag, "range")); allowed != "" {
			return fmt.Errorf("%s (%v) must be %s", path, v, allowed)
		}
	}
	return nil
}

// outOfRange returns what a number must be when n is outside r, a go-zero range ("[1:100]",
// "[2:]", "[0:1000)": brackets include the bound, parentheses exclude it), else "".
func outOfRange(n float64, r string) string {
	if len(r) < 2 {
		return ""
	}
	lowIncluded, highIncluded := r[0] == '[', r[len(r)-1] == ']'
	low, high, _ := strings.Cut(r[1:len(r)-1], ":")
	low, high = strings.TrimSpace(low), strings.TrimSpace(high)
	var allowed []string
	outside := false
	if low != "" {
		l, _ := strconv.ParseFloat(low, 64)
		if lowIncluded {
			allowed, outside = append(allowed, "at least "+low), n < l
		} else {
			allowed, outside = append(allowed, "above "+low), n <= l
		}
	}
	if high != "" {
		h, _ := strconv.ParseFloat(high, 64)
		if highIncluded {
			allowed, outside = append(allowed, "at most "+high), outside || n > h
		} else {
			allowed, outside = append(allowed, "under "+high), outside || n >= h
		}
	}
	switch {
	case !outside:
		return ""
	case lowIncluded && highIncluded && low != "" && high != "":
		return "between " + low + " and " + high
	}
	return strings.Join(allowed, " and ")
}

// tagOptions returns the values of a json tag's options option ("a|b" or "[a,b]").
func tagOptions(tag string) []string {
	o := tagOption(tag, "options")
	if o == "" {
		return nil
	}
	if bracketed, ok := strings.CutPrefix(o, "["); ok {
		return strings.Split(strings.TrimSuffix(bracketed, "]"), ",")
	}
	return strings.Split(o, "|")
}

// tagOption returns the value of the go-zero option name in a json tag (",default=1,range=[1:10]"),
// a bracketed value whole, commas and all.
func tagOption(tag, name string) string {
	_, rest, ok := strings.Cut(tag, ","+name+"=")
	if !ok {
		return ""
	}
	if rest != "" && (rest[0] == '[' || rest[0] == '(') {
		if end := strings.IndexAny(rest, "])"); end >= 0 {
			return rest[:end+1]
		}
	}
	value, _, _ := strings.Cut(rest, ",")
	return value
}

// field is a config key: its name as Config spells it, its type and its json tag.
type field struct {
	name, tag string
	typ       reflect.Type
}

// portKeys names the listening port of each of go-zero's structs that has one. Their tags
// have no range: go-zero takes Port: 70000, the API's listen then fails with "invalid port",
// and the dev server's (and the deprecated Prometheus agent's) only in its log, the process
// running on without metrics. keysOf gives them the range a TCP port has.
var portKeys = map[reflect.Type]string{
	reflect.TypeFor[rest.RestConf]():           "Port",
	reflect.TypeFor[service.DevServerConfig](): "Port",
	reflect.TypeFor[prometheus.Config]():       "Port",
}

// keysOf returns t's keys by their lowercase names, as go-zero matches them: the json tag's
// name, else the field's; an embedded struct's keys are its parent's.
func keysOf(t reflect.Type) map[string]field {
	keys := make(map[string]field)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && ft.Kind() == reflect.Struct {
			for k, v := range keysOf(ft) {
				keys[k] = v
			}
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name = strings.TrimSpace(name); name == "" {
			name = f.Name
		}
		if portKeys[t] == f.Name {
			tag += ",range=[1:65535]"
		}
		keys[strings.ToLower(name)] = field{name: name, tag: tag, typ: f.Type}
	}
	return keys
}

func unknownKey(path, key string, fields map[string]field) error {
	// A key with no name, or with spaces or control characters, is shown quoted: bare, the
	// message would not show where it ends.
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		path = strings.TrimSuffix(path, key) + strconv.Quote(key)
	}
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.name)
	}
	if best := suggest.Closest(key, names); best != "" {
		return fmt.Errorf("unknown config key %s (did you mean %s?)", path, best)
	}
	return fmt.Errorf("unknown config key %s", path)
}

func sortedKeys(m map[any]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprint(k))
	}
	slices.Sort(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
