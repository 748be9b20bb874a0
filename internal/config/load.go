package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/zeromicro/go-zero/core/conf"
	"gopkg.in/yaml.v2"
)

// The development secrets, the defaults of Auth.AccessSecret and Callbacks.Secret (and the
// values in etc/jobs.yaml): anyone who can read the repository knows them.
const (
	DevAccessSecret   = "jobs-dev-secret-do-not-use-in-production"
	DevCallbackSecret = "jobs-dev-callback-secret-do-not-use-in-production"
)

// Load reads file into c as go-zero's conf.Load does, after refusing any key that is not
// one of Config's: go-zero ignores unknown keys, so a typo such as MySQL.DataSouce would
// start the service on the default database.
func Load(file string, c *Config) error {
	content, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := CheckKeys(filepath.Ext(file), content); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return conf.Load(file, c)
}

// CheckKeys returns an error naming the first key of content (YAML or JSON, by ext) that
// Config does not have, matching keys as go-zero does: case-insensitively, with embedded
// structs' keys at their parent's level, into nested structs, maps of structs and list items
// (Functions[1].Command.Argv). Other formats go-zero reads (TOML, JSON5) are not checked.
func CheckKeys(ext string, content []byte) error {
	switch strings.ToLower(ext) {
	case ".yaml", ".yml", ".json":
	default:
		return nil
	}
	var doc any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return err
	}
	return checkKeys(reflect.TypeOf(Config{}), doc, "")
}

func checkKeys(t reflect.Type, v any, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[any]any)
		if !ok {
			return nil // not a mapping: go-zero reports the type
		}
		fields := keysOf(t)
		for _, key := range sortedKeys(m) {
			ft, ok := fields[strings.ToLower(key)]
			if !ok {
				return unknownKey(join(path, key), key, fields)
			}
			if err := checkKeys(ft.typ, m[key], join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if m, ok := v.(map[any]any); ok {
			for _, key := range sortedKeys(m) {
				if err := checkKeys(t.Elem(), m[key], join(path, key)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if items, ok := v.([]any); ok {
			for i, item := range items {
				if err := checkKeys(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// field is a config key: its name as Config spells it, and its type.
type field struct {
	name string
	typ  reflect.Type
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
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name = strings.TrimSpace(name); name == "" {
			name = f.Name
		}
		keys[strings.ToLower(name)] = field{name: name, typ: f.Type}
	}
	return keys
}

func unknownKey(path, key string, fields map[string]field) error {
	best, bestDistance := "", 4 // suggest only a key a typo or two away
	for _, f := range fields {
		if d := distance(strings.ToLower(key), strings.ToLower(f.name)); d < bestDistance {
			best, bestDistance = f.name, d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown config key %s (did you mean %s?)", path, best)
	}
	return fmt.Errorf("unknown config key %s", path)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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
