package sluiceenvoy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/sluicehq/sluice/core"
	"go.yaml.in/yaml/v3"
)

// yamlReader turns YAML nodes into values, collecting one
// *core.ConfigError per problem, each with its path and, in its message,
// its file and line.
type yamlReader struct {
	file string
	errs []error
}

func (r *yamlReader) bad(path string, n *yaml.Node, value any, format string, args ...any) {
	pos := r.file
	if n != nil {
		pos += ":" + strconv.Itoa(n.Line)
	}
	r.errs = append(r.errs, &core.ConfigError{Path: path, Value: value, Err: fmt.Errorf(pos+": "+format, args...)})
}

// document parses data as one YAML document and returns its root node, or
// nil for an empty document.
func (r *yamlReader) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		r.bad("", nil, "", "%v", err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		r.bad("", &extra, "", "one YAML document per file, found another")
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// fields checks that n is a mapping whose keys are all in allowed, and
// calls f for each key in the order written. A duplicate key is an error.
func (r *yamlReader) fields(path string, n *yaml.Node, allowed map[string]bool, f func(key string, v *yaml.Node)) {
	n = r.noAlias(path, n)
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		r.bad(path, n, kindName(n), "want a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := join(path, k.Value)
		switch {
		case !allowed[k.Value]:
			r.bad(at, k, k.Value, "unknown key")
		case seen[k.Value]:
			r.bad(at, k, k.Value, "duplicate key")
		default:
			seen[k.Value] = true
			f(k.Value, r.noAlias(at, v))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// noAlias reports an alias (*name) as an error and returns an empty node
// in its place: expanding aliases would let a small file describe an
// exponential number of descriptors.
func (r *yamlReader) noAlias(path string, n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		r.bad(path, n, "*"+n.Value, "YAML aliases are not supported")
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

// list checks that n is a sequence (or null) and calls f for each item.
func (r *yamlReader) list(path string, n *yaml.Node, f func(at string, item *yaml.Node)) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
	case n.Kind != yaml.SequenceNode:
		r.bad(path, n, kindName(n), "want a list")
	default:
		for i, item := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			f(at, r.noAlias(at, item))
		}
	}
}

func (r *yamlReader) str(path string, n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.bad(path, n, kindName(n), "want a string")
		return ""
	}
	return n.Value
}

func (r *yamlReader) boolean(path string, n *yaml.Node) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		r.bad(path, n, n.Value, "want true or false")
	}
	return b
}

func (r *yamlReader) uint32(path string, n *yaml.Node) uint32 {
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
		r.bad(path, n, n.Value, "want a whole number from 0 to %d", uint32(1<<32-1))
	}
	return uint32(v)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "?"
}
