package core_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// maxExportedNames is the most exported names package core may have. Every
// exported name is a promise kept after v1, and x/time/rate does its whole
// job in about 28 (see the style guide).
const maxExportedNames = 60

// TestExportedNames keeps package core's surface at most maxExportedNames
// names: exported top-level constants, variables, functions and types, and
// the exported methods of exported types. Struct fields and interface
// methods are not counted; they belong to their type. (tools/cmd/release
// count prints the same count for every package.)
func TestExportedNames(t *testing.T) {
	names, err := exportedNames(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("package core exports %d names", len(names))
	if len(names) > maxExportedNames {
		t.Errorf("package core exports %d names, more than %d: before adding one, ask whether an existing name, a field of an options struct or an unexported helper serves.\n%v", len(names), maxExportedNames, names)
	}
}

// exportedNames returns the exported names of the package in dir, sorted,
// methods as "Type.Method".
func exportedNames(dir string) ([]string, error) {
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	types := map[string]bool{}
	var names []string
	var methods [][2]string // receiver type, method
	for _, file := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, file), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					names = append(names, d.Name.Name)
				} else {
					methods = append(methods, [2]string{receiverType(d.Recv.List[0].Type), d.Name.Name})
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names = append(names, s.Name.Name)
							types[s.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names = append(names, n.Name)
							}
						}
					}
				}
			}
		}
	}
	for _, m := range methods {
		if types[m[0]] {
			names = append(names, m[0]+"."+m[1])
		}
	}
	slices.Sort(names)
	return names, nil
}

// receiverType returns the name of a method receiver's base type: T for
// T, *T, T[K] and *T[K].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// TestExportedNamesCounts checks the counting rule on a small package
// written for it, so the test above can fail.
func TestExportedNamesCounts(t *testing.T) {
	dir := t.TempDir()
	src := `package p

const A, b = 1, 2
var V int
type T struct{ Field int }
type I interface{ M() }
type G[K comparable] struct{}
func F() {}
func f() {}
func (T) M() {}
func (*T) N() {}
func (T) n() {}
func (G[K]) M() {}
type u struct{}
func (u) M() {}
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o666); err != nil {
		t.Fatal(err)
	}
	got, err := exportedNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A", "F", "G", "G.M", "I", "T", "T.M", "T.N", "V"}
	if !slices.Equal(got, want) {
		t.Errorf("exportedNames = %v, want %v", got, want)
	}
}
