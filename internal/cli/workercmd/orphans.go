package workercmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/accounts"
	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/status"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// refuseOrphans refuses to start when today's keys and queues hold work that no lane drains.
// That is a file of several accounts, none of them named default.
// The work is what a deployment of one account queued: URLs waiting, tasks and status checks.
// Without the refusal it would wait forever, unseen by every lane.
func refuseOrphans(ctx context.Context, cfg *config.Config, set *accounts.Set, rdb redis.UniversalClient) error {
	if !cfg.Several() {
		return nil
	}
	for _, a := range set.All() {
		if a.Name == accounts.DefaultName {
			return nil
		}
	}
	c, err := status.NewReader(rdb).ReadCounts(ctx, tasks.QueueNames())
	if err != nil {
		return fmt.Errorf("read what today's keys hold, to check that a lane drains it: %w", err)
	}
	checks, err := store.New(rdb).ChecksWaiting(ctx)
	if err != nil {
		return fmt.Errorf("read what today's keys hold, to check that a lane drains it: %w", err)
	}
	var held []string
	if c.WaitingURLs > 0 {
		held = append(held, fmt.Sprintf("%d URLs waiting in %s", c.WaitingURLs, store.KeysFor(tasks.DefaultAccount).Pending))
	}
	for _, q := range c.Queues {
		if n := q.Pending + q.Active + q.Scheduled + q.Retry + q.Aggregating; n > 0 {
			held = append(held, fmt.Sprintf("%d tasks in the queue %s", n, q.Queue))
		}
	}
	if checks > 0 {
		held = append(held, fmt.Sprintf("%d status checks in %s", checks, store.KeysFor(tasks.DefaultAccount).Checks))
	}
	if len(held) == 0 {
		return nil
	}
	return fmt.Errorf("today's keys and queues hold work of a deployment of one account (%s), and no account of ACCOUNTS_FILE=%s "+
		"is named %s, so no lane would ever send it: name the account it belongs to %s in the file (its lane then uses today's keys and queues), "+
		"or drain it first with the deployment of one account (stop the producers, wait until enqueue status shows nothing waiting), then start this one",
		strings.Join(held, ", "), cfg.Cloudimage.AccountsFile, accounts.DefaultName, accounts.DefaultName)
}
