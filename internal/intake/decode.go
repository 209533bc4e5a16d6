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

	"github.com/cipurge/cipurge/internal/httpapi"
)

// badRequest is a request refused before it reached Redis.
type badRequest = httpapi.Problem

// decode checks the content type and the body's size and decodes the body, a single JSON object
// with only dst's fields, into dst. r.Body is already limited to MaxBytes (ServeHTTP).
func (h *handler) decode(r *http.Request, dst any) *badRequest {
	if bad := checkContentType(r.Header.Get("Content-Type")); bad != nil {
		h.Limit.Drain(r)
		return bad
	}
	data, bad := h.Limit.Read(r)
	if bad != nil {
		return bad
	}
	return decodeJSON(data, dst)
}

// checkContentType accepts application/json, with no charset or charset=utf-8.
func checkContentType(ct string) *badRequest {
	fix := "send Content-Type: application/json with a UTF-8 JSON body"
	if ct == "" {
		return &badRequest{Status: http.StatusUnsupportedMediaType, Body: Error{Code: "unsupported_media_type", Message: "Content-Type is missing: " + fix}}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &badRequest{Status: http.StatusUnsupportedMediaType, Body: Error{Code: "unsupported_media_type",
			Message: fmt.Sprintf("Content-Type %q is not supported: %s", ct, fix)}}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &badRequest{Status: http.StatusUnsupportedMediaType, Body: Error{Code: "unsupported_media_type",
			Message: fmt.Sprintf("charset %q is not supported: %s", cs, fix)}}
	}
	return nil
}

// decodeJSON decodes data, exactly one JSON object with no unknown fields, into dst. Errors say
// where (line, column, byte offset) and what to fix.
func decodeJSON(data []byte, dst any) *badRequest {
	if len(bytes.TrimSpace(data)) == 0 {
		return &badRequest{Status: http.StatusBadRequest, Body: Error{Code: "empty_body", Message: "the body is empty: send a JSON object such as " + example(dst)}}
	}
	if bad := httpapi.CheckJSON(data); bad != nil {
		return bad
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
			return httpapi.Malformed(data, rest, "trailing_data", "unexpected data after the JSON object: send exactly one object")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return httpapi.Malformed(data, int(syn.Offset)-1, "malformed_json", "malformed JSON: "+syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return httpapi.Malformed(data, len(data), "malformed_json", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &typ):
		msg := fmt.Sprintf("the body must be a JSON object such as %s, not a JSON %s", example(dst), typ.Value)
		if typ.Field != "" {
			msg = fmt.Sprintf("field %q: a JSON %s where a %s belongs; send a JSON object such as %s", typ.Field, typ.Value, jsonKind(typ.Type), example(dst))
		}
		return httpapi.Malformed(data, int(typ.Offset)-1, "wrong_type", msg)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &badRequest{Status: http.StatusBadRequest, Body: Error{Code: "unknown_field",
			Message: fmt.Sprintf("unknown field %s: the fields are %s", name, fieldNames(dst))}}
	}
	return &badRequest{Status: http.StatusBadRequest, Body: Error{Code: "malformed_json", Message: "malformed JSON: " + err.Error()}}
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
