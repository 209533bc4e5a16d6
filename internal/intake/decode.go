package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// badRequest is a request refused before it reached Redis.
type badRequest struct {
	status int
	body   Error
}

// decode checks the content type and the body's size and decodes the body, a single JSON object
// with only dst's fields, into dst. r.Body is already limited to MaxBytes (ServeHTTP).
func (h *handler) decode(r *http.Request, dst any) *badRequest {
	if bad := checkContentType(r.Header.Get("Content-Type")); bad != nil {
		return bad
	}
	tooLarge := &badRequest{http.StatusRequestEntityTooLarge, Error{Code: "body_too_large", Setting: "INTAKE_MAX_BYTES", Limit: h.o.MaxBytes,
		Message: fmt.Sprintf("the body is larger than INTAKE_MAX_BYTES=%d bytes: send fewer URLs per request", h.o.MaxBytes)}}
	if r.ContentLength > h.o.MaxBytes {
		return tooLarge
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return &badRequest{http.StatusBadRequest, Error{Code: "read_error", Message: "the body could not be read: " + err.Error()}}
	}
	return decodeJSON(data, dst)
}

// checkContentType accepts application/json, with no charset or charset=utf-8.
func checkContentType(ct string) *badRequest {
	fix := "send Content-Type: application/json with a UTF-8 JSON body"
	if ct == "" {
		return &badRequest{http.StatusUnsupportedMediaType, Error{Code: "unsupported_media_type", Message: "Content-Type is missing: " + fix}}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &badRequest{http.StatusUnsupportedMediaType, Error{Code: "unsupported_media_type",
			Message: fmt.Sprintf("Content-Type %q is not supported: %s", ct, fix)}}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &badRequest{http.StatusUnsupportedMediaType, Error{Code: "unsupported_media_type",
			Message: fmt.Sprintf("charset %q is not supported: %s", cs, fix)}}
	}
	return nil
}

// decodeJSON decodes data, exactly one JSON object with no unknown fields, into dst. Errors say
// where (line, column, byte offset) and what to fix.
func decodeJSON(data []byte, dst any) *badRequest {
	if len(bytes.TrimSpace(data)) == 0 {
		return &badRequest{http.StatusBadRequest, Error{Code: "empty_body", Message: "the body is empty: send a JSON object such as " + example(dst)}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		rest := int(dec.InputOffset())
		for rest < len(data) && isSpace(data[rest]) {
			rest++
		}
		if rest < len(data) {
			return malformed(data, rest, "trailing_data", "unexpected data after the JSON object: send exactly one object")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return malformed(data, int(syn.Offset)-1, "malformed_json", "malformed JSON: "+syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed(data, len(data), "malformed_json", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &typ):
		msg := fmt.Sprintf("the body must be a JSON object such as %s, not a JSON %s", example(dst), typ.Value)
		if typ.Field != "" {
			msg = fmt.Sprintf("field %q: a JSON %s where a %s belongs; send a JSON object such as %s", typ.Field, typ.Value, jsonKind(typ.Type), example(dst))
		}
		return malformed(data, int(typ.Offset)-1, "wrong_type", msg)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &badRequest{http.StatusBadRequest, Error{Code: "unknown_field",
			Message: fmt.Sprintf("unknown field %s: the fields are %s", name, fieldNames(dst))}}
	}
	return &badRequest{http.StatusBadRequest, Error{Code: "malformed_json", Message: "malformed JSON: " + err.Error()}}
}

// malformed is a 400 pointing at data[pos] (pos is clamped into the body).
func malformed(data []byte, pos int, code, msg string) *badRequest {
	pos = max(0, min(pos, len(data)))
	line, col := position(data, pos)
	return &badRequest{http.StatusBadRequest, Error{Code: code, Line: line, Column: col, Offset: int64(pos),
		Message: fmt.Sprintf("%s (line %d, column %d, byte offset %d)", msg, line, col, pos)}}
}

// position returns the 1-based line and column (in characters) of byte pos of data.
func position(data []byte, pos int) (line, col int) {
	before := data[:pos]
	line = 1 + bytes.Count(before, []byte{'\n'})
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// example is a valid body for dst, for error messages.
func example(dst any) string {
	if _, ok := dst.(*flushRequest); ok {
		return `{"confirm": "<your CLOUDIMAGE_TOKEN value>", "reason": "why"}`
	}
	return `{"urls": ["https://img.example.com/a.jpg"], "source": "optional text"}`
}

// fieldNames lists the JSON field names of the struct dst points to.
func fieldNames(dst any) string {
	t := reflect.TypeOf(dst).Elem()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, `"`+name+`"`)
	}
	return strings.Join(names, " and ")
}

// jsonKind names a Go type the way a JSON user knows it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array of " + jsonKind(t.Elem()) + "s"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}
