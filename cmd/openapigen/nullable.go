package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
)

// nullableFields reads goctl's Go types and returns, per type, the JSON names of its
// fields that may be null: pointers and interface{} (goctl's Swagger output says neither).
// Embedded types' fields count as the embedding type's, as goctl flattens them.
func nullableFields(file string) (map[string]map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	structs := map[string]*ast.StructType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if spec, ok := n.(*ast.TypeSpec); ok {
			if st, ok := spec.Type.(*ast.StructType); ok {
				structs[spec.Name.Name] = st
			}
		}
		return true
	})
	var fieldsOf func(name string, depth int) (map[string]bool, error)
	fieldsOf = func(name string, depth int) (map[string]bool, error) {
		st, ok := structs[name]
		if !ok || depth > len(structs) {
			return nil, fmt.Errorf("%s: no struct type %s", file, name)
		}
		fields := map[string]bool{}
		for _, field := range st.Fields.List {
			if len(field.Names) == 0 {
				ident, ok := field.Type.(*ast.Ident)
				if !ok {
					return nil, fmt.Errorf("%s: %s embeds %T", file, name, field.Type)
				}
				embedded, err := fieldsOf(ident.Name, depth+1)
				if err != nil {
					return nil, err
				}
				for k, v := range embedded {
					fields[k] = v
				}
				continue
			}
			jsonName := jsonFieldName(field)
			if jsonName == "" {
				continue // a path, query or header parameter
			}
			switch t := field.Type.(type) {
			case *ast.StarExpr:
				fields[jsonName] = true
			case *ast.InterfaceType:
				fields[jsonName] = true
			case *ast.Ident:
				fields[jsonName] = t.Name == "any"
			default:
				fields[jsonName] = false
			}
		}
		return fields, nil
	}
	nullable := map[string]map[string]bool{}
	for name := range structs {
		fields, err := fieldsOf(name, 0)
		if err != nil {
			return nil, err
		}
		nullable[name] = fields
	}
	return nullable, nil
}

// jsonFieldName is the field's name in JSON, "" if it has no json tag.
func jsonFieldName(field *ast.Field) string {
	if field.Tag == nil {
		return ""
	}
	tag, err := strconv.Unquote(field.Tag.Value)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
	return name
}
