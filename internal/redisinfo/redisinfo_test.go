package redisinfo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cipurge/cipurge/internal/redisinfo"
	"github.com/cipurge/cipurge/internal/testredis"
)

func TestField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	c := r.Client()
	if v, err := redisinfo.Field(ctx, c, "server", "tcp_port"); err != nil || v != r.Addr()[strings.LastIndex(r.Addr(), ":")+1:] {
		t.Errorf("INFO server tcp_port: %q, %v; want the server's port", v, err)
	}
	if v, err := redisinfo.Field(ctx, c, "", "redis_version"); err != nil || v == "" {
		t.Errorf("INFO redis_version: %q, %v", v, err)
	}
	if _, err := redisinfo.Field(ctx, c, "server", "no_such_field"); err == nil || err.Error() != "INFO server has no no_such_field" {
		t.Errorf("a missing field: %v", err)
	}
	if n, err := redisinfo.UsedMemory(ctx, c); err != nil || n <= 0 {
		t.Errorf("used_memory: %d, %v", n, err)
	}
	if got := testredis.UsedMemory(t, ctx, c); got <= 0 {
		t.Errorf("testredis.UsedMemory: %d", got)
	}
}
