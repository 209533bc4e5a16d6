package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/producer"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/worker"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// rowLanes measures fair sharing between accounts (issue 23, part 3): the interactive latency of
// shop-c beside a bulk backlog of shop-a, and the same latency with shop-a idle, in one run.
// The row runs the two lanes in this process (worker.Lanes), as the worker command does, against
// the bench's sandbox, at the default window.
func (b *bench) rowLanes() error {
	if err := b.reset(); err != nil {
		return err
	}
	n, backlog := b.sz.lanesSamples, b.sz.lanesBacklog
	b.logf("lanes: %d interactive URLs of shop-c alone, then beside a %d-URL bulk backlog of shop-a", n, backlog)
	api, err := apiclient.New(b.key, apiclient.WithBaseURL(b.sbURL))
	if err != nil {
		return err
	}
	var ws []*worker.Worker
	for _, c := range []worker.Config{{Account: "shop-a", Concurrency: b.o.concurrency}, {Account: "shop-c", Limit: store.Limit{Rate: 10}}} {
		w, err := worker.New(c, b.rdb, api, zap.NewNop(), nil)
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- worker.NewLanes(ws...).Run(ctx) }()
	defer func() { cancel(); <-done }()
	c := producer.New(b.rdb, producer.Settings{BatchSize: 15, Account: "shop-c"})
	alone, err := b.trickleLane(c, "lanes-alone", n)
	if err != nil {
		return err
	}
	a := producer.New(b.rdb, producer.Settings{BatchSize: 15, Account: "shop-a"})
	now, err := a.Now(b.ctx)
	if err != nil {
		return err
	}
	for i := 0; i < backlog; i += 15000 {
		keys := make([]string, 0, 15000)
		for j := i; j < min(i+15000, backlog); j++ {
			keys = append(keys, imageKey("lanes-backlog", j))
		}
		if _, err := a.EnqueueBulk(b.ctx, "bench", "", now, keys); err != nil {
			return err
		}
	}
	beside, err := b.trickleLane(c, "lanes-beside", n)
	if err != nil {
		return err
	}
	// The backlog must still wait when the last URL is sent, or the row measured nothing beside it.
	left, err := b.rdb.LLen(b.ctx, taskq.PendingKey(tasks.QueuesOf("shop-a").Bulk)).Result()
	if err != nil {
		return err
	}
	window := worker.Config{}.WithDefaults().Window
	p95, anchor := percentile(beside, 95), percentile(alone, 95)
	b.add(result{row: "lanes", workload: fmt.Sprintf("shop-c's interactive URLs (%d, 4 a second, PURGE_RATE=10) beside a %s-URL bulk backlog of shop-a draining without a limit (%d slots), two lanes in one process, window %s; %s bulk tasks still queued after the last send",
		n, group(int64(backlog)), b.o.concurrency, window, group(left)),
		product: latencies(beside), baseline: "shop-a idle: " + latencies(alone),
		ratio:  fmt.Sprintf("%.2fx", p95.Seconds()/max(anchor.Seconds(), 0.001)),
		target: "p95 <= window + 2 s", verdict: verdict(p95 <= window+2*time.Second)})
	return b.reset()
}

// trickleLane adds n URLs of set through p, four a second, and returns each one's latency from
// just before its add to the sandbox's receipt.
func (b *bench) trickleLane(p *producer.Producer, set string, n int) ([]time.Duration, error) {
	starts := map[string]time.Time{}
	for i := range n {
		u := imageKey(set, i)
		starts[u] = time.Now()
		if _, err := p.AddKeys(b.ctx, "bench", []string{u}); err != nil {
			return nil, err
		}
		time.Sleep(250 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lat []time.Duration
		for _, r := range b.sb.Accepted() {
			for _, u := range r.URLs {
				if s, ok := starts[u]; ok {
					lat = append(lat, r.At.Sub(s))
					delete(starts, u)
				}
			}
		}
		if len(starts) == 0 {
			return lat, nil
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %d of %d URLs of %s not sent 30 s after the last", errBroken, len(starts), n, set)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
