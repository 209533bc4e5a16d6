// Package redisinfo reads fields of Redis's INFO, for the benchmark and the tests' private
// redis-server processes.
package redisinfo

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Field returns field of INFO section ("" for INFO's default sections), e.g. "used_memory".
func Field(ctx context.Context, c redis.UniversalClient, section, field string) (string, error) {
	what, sections := "INFO", []string(nil)
	if section != "" {
		what, sections = "INFO "+section, []string{section}
	}
	s, err := c.Info(ctx, sections...).Result()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s has no %s", what, field)
}

// UsedMemory returns used_memory (INFO memory), in bytes.
func UsedMemory(ctx context.Context, c redis.UniversalClient) (int64, error) {
	v, err := Field(ctx, c, "memory", "used_memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
