package intake

import (
	"net/http"
	"strings"
	"testing"
)

// TestDecodeJSONErrors: every malformed body is a 400 that says what is wrong and where.
func TestDecodeJSONErrors(t *testing.T) {
	cases := []struct {
		name, body, code string
		line, col        int
		want             string // in the message
	}{
		{"bad value", `{"urls": [x]}`, "malformed_json", 1, 11, "invalid character 'x'"},
		{"second line", "{\n  \"urls\": [\"a\",]\n}", "malformed_json", 2, 16, "invalid character ']'"},
		{"column counts characters", "{\"source\": \"é\", \"urls\": [\"a\" \"b\"]}", "malformed_json", 1, 30, "after array element"},
		{"truncated", "{\"urls\": [\"a\"", "malformed_json", 1, 14, "ends in the middle"},
		{"trailing data", `{"urls": ["a"]} {"urls": ["b"]}`, "trailing_data", 1, 17, "exactly one object"},
		{"string for array", `{"urls": "a"}`, "wrong_type", 1, 12, `field "urls"`},
		{"number in array", `{"urls": [1]}`, "wrong_type", 1, 11, "string"},
		{"array body", `["a"]`, "wrong_type", 1, 1, "must be a JSON object"},
		{"unknown field", `{"url": ["a"]}`, "unknown_field", 0, 0, `unknown field "url": the fields are "urls" and "prefixes" and "source"`},
		{"empty", " \n ", "empty_body", 0, 0, "the body is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req invalidationsRequest
			bad := decodeJSON([]byte(c.body), &req)
			if bad == nil {
				t.Fatalf("%q decoded without error", c.body)
			}
			if bad.Status != http.StatusBadRequest || bad.Body.Code != c.code {
				t.Errorf("status %d code %q, want 400 %q", bad.Status, bad.Body.Code, c.code)
			}
			if bad.Body.Line != c.line || bad.Body.Column != c.col {
				t.Errorf("at line %d column %d, want line %d column %d (%s)", bad.Body.Line, bad.Body.Column, c.line, c.col, bad.Body.Message)
			}
			if !strings.Contains(bad.Body.Message, c.want) {
				t.Errorf("message %q does not contain %q", bad.Body.Message, c.want)
			}
		})
	}
}

func TestDecodeJSONAccepts(t *testing.T) {
	var req invalidationsRequest
	if bad := decodeJSON([]byte(" {\"urls\": [\"a\", \"b\"], \"source\": \"cms\"}\n\n"), &req); bad != nil {
		t.Fatalf("refused: %+v", bad.Body)
	}
	if len(req.URLs) != 2 || req.Source != "cms" {
		t.Errorf("decoded %+v", req)
	}
}

func TestCheckContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"Application/JSON; charset=UTF-8":   true,
		"":                                  false,
		"text/plain":                        false,
		"application/x-www-form-urlencoded": false,
		"application/json; charset=latin1":  false,
		"application/json; =":               false,
	} {
		bad := checkContentType(ct)
		if (bad == nil) != ok {
			t.Errorf("Content-Type %q: accepted=%v, want %v", ct, bad == nil, ok)
		}
		if bad != nil && bad.Status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415", ct, bad.Status)
		}
	}
}
