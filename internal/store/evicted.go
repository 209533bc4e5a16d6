package store

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// EvictedKeys returns how many keys Redis evicted since it started (INFO stats evicted_keys,
// summed over the masters of a Cluster): above zero, Redis dropped data under memory pressure.
func (s *Store) EvictedKeys(ctx context.Context) (int64, error) {
	read := func(ctx context.Context, c redis.Cmdable) (int64, error) {
		info, err := c.Info(ctx, "stats").Result()
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(strings.NewReader(info))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "evicted_keys:"); ok {
				return strconv.ParseInt(v, 10, 64)
			}
		}
		return 0, nil
	}
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return read(ctx, s.rdb)
	}
	var total atomic.Int64
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := read(ctx, c)
		total.Add(n)
		return err
	})
	return total.Load(), err
}
