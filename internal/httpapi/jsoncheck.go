package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// MaxDepth is how deeply a JSON body may nest objects and arrays. No body the endpoints take
// nests more than a few levels.
const MaxDepth = 64

// CheckJSON refuses, before decoding, what encoding/json would accept but lose or misread: a body
// in UTF-16 or with a byte order mark (named as such), nesting deeper than MaxDepth, and a key
// that appears twice in one object, at any depth (the decoder would keep the last value and drop
// the first without a word). A body that is not JSON at all passes: the decoder says where.
func CheckJSON(data []byte) *Problem {
	if p := checkEncoding(data); p != nil {
		return p
	}
	type level struct {
		object bool
		keys   map[string]bool
		inKey  bool   // the next token in this object is a key
		path   string // where this value is, e.g. $.Records[]
		last   string // the last key read
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or malformed JSON: the decoder reports it with its position
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		d, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (d == '{' || d == '['):
			if len(stack) >= MaxDepth {
				return Malformed(data, before, "too_deep", fmt.Sprintf("the JSON nests deeper than %d levels: send the documented shape", MaxDepth))
			}
			path := "$"
			if top != nil && top.object {
				path, top.inKey = top.path+"."+top.last, true
			} else if top != nil {
				path = top.path + "[]"
			}
			stack = append(stack, &level{object: d == '{', inKey: d == '{', path: path})
		case isDelim:
			stack = stack[:len(stack)-1]
		case top == nil || !top.object:
		case !top.inKey:
			top.inKey = true // a scalar value: the next token is a key
		default:
			k, _ := tok.(string)
			if top.keys == nil {
				top.keys = map[string]bool{}
			}
			if top.keys[k] {
				return Malformed(data, before, "duplicate_key", fmt.Sprintf("the key %q appears twice in the object at %s: "+
					"a JSON decoder would keep one value and drop the other; send each key once", k, top.path))
			}
			top.keys[k], top.last, top.inKey = true, k, false
		}
	}
}

// checkEncoding names a body in UTF-16 (a byte order mark, or NUL bytes beside ASCII) or UTF-8
// with a byte order mark: JSON over HTTP is UTF-8 without one (RFC 8259).
func checkEncoding(data []byte) *Problem {
	enc := ""
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		enc = "UTF-8 with a byte order mark"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), len(data) >= 2 && data[0] != 0 && data[1] == 0:
		enc = "UTF-16 (little-endian)"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), len(data) >= 2 && data[0] == 0 && data[1] != 0:
		enc = "UTF-16 (big-endian)"
	default:
		return nil
	}
	return &Problem{Status: http.StatusBadRequest, Body: Error{Code: "bad_encoding",
		Message: "the body is " + enc + ": send UTF-8 JSON without a byte order mark (e.g. iconv -f UTF-16 -t UTF-8, or save as UTF-8 without BOM)"}}
}
