package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cipurge/cipurge/internal/store"
)

// slowlogAll makes Redis log every command it runs, with its time, so that splitSlowlog can split
// Redis time per script. The log costs Redis time of its own: -split runs report inflated figures.
func (b *bench) slowlogAll() error {
	for _, kv := range [][2]string{{"slowlog-max-len", "1000000"}, {"slowlog-log-slower-than", "0"}} {
		if err := b.rdb.ConfigSet(b.ctx, kv[0], kv[1]).Err(); err != nil {
			return err
		}
	}
	return b.rdb.SlowLogReset(b.ctx).Err()
}

// splitSlowlog reads the slow log slowlogAll began and formats Redis time per script (by its
// lua/ name; asynq's by its first key) and per other command, most first, per URL of n. Redis 7
// logs the commands a script runs too, under its caller's address: a command's line counts those
// sent by clients and those run inside scripts together, and the scripts' shares are of the
// scripts' time alone.
func (b *bench) splitSlowlog(n int) (string, error) {
	logs, err := b.rdb.SlowLogGet(b.ctx, -1).Result()
	if err != nil {
		return "", err
	}
	if err := b.rdb.ConfigSet(b.ctx, "slowlog-log-slower-than", "-1").Err(); err != nil {
		return "", err
	}
	if err := b.rdb.SlowLogReset(b.ctx).Err(); err != nil {
		return "", err
	}
	names := store.ScriptNames()
	type part struct {
		name  string
		calls int64
		took  time.Duration
	}
	by := map[string]*part{}
	var scripts time.Duration
	for _, l := range logs {
		name := splitName(l.Args, names)
		p := by[name]
		if p == nil {
			p = &part{name: name}
			by[name] = p
		}
		p.calls++
		p.took += l.Duration
		if strings.Contains(name, "script ") {
			scripts += l.Duration
		}
	}
	parts := make([]*part, 0, len(by))
	for _, p := range by {
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, c *part) int { return int(c.took - a.took) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "    %d commands logged (slowlog-max-len 1000000); scripts %.1f µs per URL, shares are of that\n", len(logs), float64(scripts.Microseconds())/float64(n))
	for _, p := range parts {
		share := ""
		if strings.Contains(p.name, "script ") {
			share = fmt.Sprintf("%5.1f%%", 100*float64(p.took)/float64(max(scripts, 1)))
		}
		fmt.Fprintf(&sb, "    %-40s %8d calls %8.2f calls/URL %8.1f µs/call %7.2f µs/URL %s\n", p.name, p.calls,
			float64(p.calls)/float64(n), float64(p.took.Microseconds())/float64(p.calls),
			float64(p.took.Microseconds())/float64(n), share)
	}
	return sb.String(), nil
}

// splitName names a logged command: a product script by its lua/ name, an asynq script by the
// part of its first key after the queue, any other command by its name.
func splitName(args []string, names map[string]string) string {
	if len(args) == 0 {
		return "?"
	}
	cmd := strings.ToLower(args[0])
	if cmd != "evalsha" || len(args) < 2 {
		return cmd
	}
	if n, ok := names[args[1]]; ok {
		return "script " + n
	}
	key := ""
	if len(args) > 3 {
		key = args[3]
	}
	if _, rest, ok := strings.Cut(key, "}:"); ok {
		key, _, _ = strings.Cut(rest, ":")
	}
	return fmt.Sprintf("asynq script %.8s (KEYS[1] %s)", args[1], key)
}
