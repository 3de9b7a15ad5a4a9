// Package apilist writes the exported API of a module as a sorted,
// human-readable listing, one feature a line, in the style of the Go
// repository's api/go1.*.txt:
//
//	pkg core, func New(...Option) (*Limiter, error)
//	pkg core, method (*Limiter) Close() error
//	pkg core, type Limit struct
//	pkg core, type Limit struct, N int64
//
// Parameter names are left out, as they are not part of the API. The
// listing is read from go/types (through go/packages), so it holds
// whatever the packages export today and needs no change when they do.
// Internal packages and commands are not listed.
package apilist

import (
	"fmt"
	"go/types"
	"slices"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// Package is the exported API of one package.
type Package struct {
	Path  string   // import path
	Lines []string // sorted features, each "pkg <path>, ..."
	Names int      // exported top-level names and methods (see Count)
}

// Load type-checks the packages of the module in dir (absolute) with
// GOWORK=off, as a user builds it, and returns their exported API, sorted
// by path. A package that does not type-check is an error: its API is not
// known.
func Load(dir string) ([]Package, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedModule,
		Dir:  dir,
		Env:  env(),
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, err
	}
	var errs []string
	var out []Package
	for _, p := range pkgs {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
		if len(p.Errors) > 0 || p.Name == "main" || isInternal(p.PkgPath) {
			continue
		}
		out = append(out, describe(p.Types))
	}
	if len(errs) > 0 {
		if n := len(errs); n > 5 {
			errs = append(errs[:5], fmt.Sprintf("and %d more", n-5))
		}
		return nil, fmt.Errorf("%s does not type-check:\n\t%s", dir, strings.Join(errs, "\n\t"))
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func isInternal(path string) bool {
	for _, el := range strings.Split(path, "/") {
		if el == "internal" {
			return true
		}
	}
	return false
}

// Count returns the number of exported names of pkg that users can name:
// its exported top-level constants, variables, functions and types, and
// the exported methods declared on its exported types. Struct fields and
// interface methods are not counted: they belong to their type.
func Count(pkg *types.Package) int {
	n := 0
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		n++
		if tn, ok := obj.(*types.TypeName); ok && !tn.IsAlias() {
			if named, ok := tn.Type().(*types.Named); ok {
				for m := range named.Methods() {
					if m.Exported() {
						n++
					}
				}
			}
		}
	}
	return n
}

func describe(pkg *types.Package) Package {
	p := Package{Path: pkg.Path(), Names: Count(pkg)}
	qual := func(other *types.Package) string {
		if other == pkg {
			return ""
		}
		return other.Name()
	}
	typ := func(t types.Type) string { return types.TypeString(unnamed(t), qual) }
	add := func(format string, args ...any) {
		p.Lines = append(p.Lines, fmt.Sprintf("pkg %s, ", pkg.Path())+fmt.Sprintf(format, args...))
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Const:
			add("const %s %s = %s", name, typ(obj.Type()), obj.Val().ExactString())
		case *types.Var:
			add("var %s %s", name, typ(obj.Type()))
		case *types.Func:
			add("func %s%s", name, signature(obj.Type().(*types.Signature), typ, true))
		case *types.TypeName:
			if obj.IsAlias() {
				add("type %s = %s", name, typ(types.Unalias(obj.Type())))
				continue
			}
			named, ok := obj.Type().(*types.Named)
			if !ok {
				continue
			}
			head := name + typeParams(named.TypeParams(), typ)
			switch u := named.Underlying().(type) {
			case *types.Struct:
				add("type %s struct", head)
				for f := range u.Fields() {
					if !f.Exported() {
						continue
					}
					if f.Embedded() {
						add("type %s struct, embedded %s", head, typ(f.Type()))
					} else {
						add("type %s struct, %s %s", head, f.Name(), typ(f.Type()))
					}
				}
			case *types.Interface:
				add("type %s interface", head)
				for e := range u.EmbeddedTypes() {
					add("type %s interface, embedded %s", head, typ(e))
				}
				unexported := false
				for m := range u.ExplicitMethods() {
					if !m.Exported() {
						unexported = true
						continue
					}
					add("type %s interface, %s%s", head, m.Name(), signature(m.Type().(*types.Signature), typ, false))
				}
				if unexported {
					add("type %s interface, unexported methods", head)
				}
			default:
				add("type %s %s", head, typ(u))
			}
			for m := range named.Methods() {
				if !m.Exported() {
					continue
				}
				sig := m.Type().(*types.Signature)
				recv := name
				if _, ptr := sig.Recv().Type().(*types.Pointer); ptr {
					recv = "*" + name
				}
				add("method (%s) %s%s", recv, m.Name(), signature(sig, typ, false))
			}
		}
	}
	sort.Strings(p.Lines)
	return p
}

// signature writes sig without parameter names: "(int, ...string) error".
func signature(sig *types.Signature, typ func(types.Type) string, withTypeParams bool) string {
	var b strings.Builder
	if withTypeParams {
		b.WriteString(typeParams(sig.TypeParams(), typ))
	}
	b.WriteString("(")
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			b.WriteString("..." + typ(t.(*types.Slice).Elem()))
		} else {
			b.WriteString(typ(t))
		}
	}
	b.WriteString(")")
	res := sig.Results()
	switch res.Len() {
	case 0:
	case 1:
		b.WriteString(" " + typ(res.At(0).Type()))
	default:
		b.WriteString(" (")
		for i := range res.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(typ(res.At(i).Type()))
		}
		b.WriteString(")")
	}
	return b.String()
}

func typeParams(tps *types.TypeParamList, typ func(types.Type) string) string {
	if tps.Len() == 0 {
		return ""
	}
	var parts []string
	for tp := range tps.TypeParams() {
		parts = append(parts, tp.Obj().Name()+" "+typ(tp.Constraint()))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Text is the listing file of a module's packages.
func Text(modPath string, pkgs []Package) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# The exported API of module %s, one feature a line.\n", modPath)
	b.WriteString("# Written by make api-update; make api fails when the code differs from it.\n")
	for _, p := range pkgs {
		for _, l := range p.Lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// unnamed returns t with the parameter names of the function types in it
// removed: they are not part of the API, and renaming one must not change
// the listing. Named types are not looked into: they print as their name.
func unnamed(t types.Type) types.Type {
	switch t := t.(type) {
	case *types.Signature:
		vars := func(tup *types.Tuple) *types.Tuple {
			var vs []*types.Var
			for v := range tup.Variables() {
				vs = append(vs, types.NewParam(v.Pos(), v.Pkg(), "", unnamed(v.Type())))
			}
			return types.NewTuple(vs...)
		}
		return types.NewSignatureType(nil, nil, nil, vars(t.Params()), vars(t.Results()), t.Variadic())
	case *types.Pointer:
		return types.NewPointer(unnamed(t.Elem()))
	case *types.Slice:
		return types.NewSlice(unnamed(t.Elem()))
	case *types.Array:
		return types.NewArray(unnamed(t.Elem()), t.Len())
	case *types.Map:
		return types.NewMap(unnamed(t.Key()), unnamed(t.Elem()))
	case *types.Chan:
		return types.NewChan(t.Dir(), unnamed(t.Elem()))
	case *types.Struct:
		var fields []*types.Var
		var tags []string
		for i := range t.NumFields() {
			f := t.Field(i)
			fields = append(fields, types.NewField(f.Pos(), f.Pkg(), f.Name(), unnamed(f.Type()), f.Embedded()))
			tags = append(tags, t.Tag(i))
		}
		return types.NewStruct(fields, tags)
	}
	return t
}
