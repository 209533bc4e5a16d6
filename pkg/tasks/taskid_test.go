package tasks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"testing"
	"time"
)

// referenceTaskID is the task-ID rule written plainly: a length-prefixed SHA-256 of the origin,
// the request time (ms) and each URL, its first 16 bytes in hex after "urls_".
func referenceTaskID(p URLs) string {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte(p.Origin))
	field(strconv.AppendInt(nil, p.RequestedAt.UnixMilli(), 10))
	for _, u := range p.URLs {
		field([]byte(u))
	}
	return "urls_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// TestURLsTaskIDIsStable: the optimised rule gives exactly the IDs of the plain one, so that
// workers and producers of different builds agree on a batch's ID (a batch formed twice by two
// builds during a rolling upgrade is still enqueued once).
func TestURLsTaskIDIsStable(t *testing.T) {
	at := time.UnixMilli(1_790_000_000_123)
	cases := []URLs{
		{URLs: []string{"x"}, RequestedAt: at, Origin: OriginInteractive},
		{URLs: benchKeys(MaxURLsPerTask), RequestedAt: at, Origin: OriginBulk},
		{URLs: benchKeys(BulkRequests * MaxURLsPerTask), RequestedAt: at.Add(time.Hour), Origin: OriginBulk},
		{URLs: []string{"", "é/ü.jpg", string(make([]byte, 300))}, RequestedAt: time.UnixMilli(0), Origin: ""},
		{URLs: []string{"a"}, RequestedAt: time.UnixMilli(-5), Origin: OriginSplit},
	}
	for i, p := range cases {
		if got, want := URLsTaskID(p), referenceTaskID(p); got != want {
			t.Errorf("case %d: URLsTaskID = %s, the rule gives %s", i, got, want)
		}
	}
}
