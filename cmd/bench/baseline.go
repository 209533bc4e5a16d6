package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// The baselines are plain asynq in this process, on the same Redis as the product.
const (
	baselineQueue = "bench"
	baselineType  = "bench:url"
	batchType     = "bench:batch"
	baselineGroup = "urls"
)

// enqueueLoop enqueues one asynq task per line of the file at path (payload: the line), with
// baselineGoroutines goroutines calling asynq.Client.Enqueue, reading the file as it goes. opts
// are added to every task. It returns the wall-clock time and the lines enqueued.
func enqueueLoop(ctx context.Context, rdb redis.UniversalClient, path string, opts ...asynq.Option) (time.Duration, int, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	c := asynq.NewClientFromRedisClient(rdb)
	opts = append([]asynq.Option{asynq.Queue(baselineQueue)}, opts...)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lines := make(chan []string, baselineGoroutines*2)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range baselineGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range lines {
				for _, l := range batch {
					if ctx.Err() != nil {
						break
					}
					if _, err := c.EnqueueContext(ctx, asynq.NewTask(baselineType, []byte(l)), opts...); err != nil {
						cancel(fmt.Errorf("baseline enqueue: %w", err))
						break
					}
					done.Add(1)
				}
			}
		}()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	batch := make([]string, 0, 256)
	for sc.Scan() && ctx.Err() == nil {
		batch = append(batch, sc.Text())
		if len(batch) == cap(batch) {
			lines <- batch
			batch = make([]string, 0, 256)
		}
	}
	if len(batch) > 0 {
		lines <- batch
	}
	close(lines)
	wg.Wait()
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if err := context.Cause(ctx); err != nil {
		return 0, 0, err
	}
	return time.Since(start), int(done.Load()), nil
}

// aggregationDrain is the drain baseline: asynq's group aggregation (GroupMaxSize aggMaxSize,
// grace 1 s) of the tasks already waiting in group baselineGroup, with a no-op handler that only
// counts the URLs of each batch. It returns the time from starting the server to handling the
// want-th URL.
func aggregationDrain(ctx context.Context, rdb redis.UniversalClient, want, concurrency int, timeout time.Duration) (time.Duration, error) {
	var got atomic.Int64
	var last atomic.Int64 // unix ns of the last batch handled
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       concurrency,
		Queues:            map[string]int{baselineQueue: 1},
		GroupMaxSize:      aggMaxSize,
		GroupGracePeriod:  time.Second,
		TaskCheckInterval: 100 * time.Millisecond, // as the product's worker
		GroupAggregator: asynq.GroupAggregatorFunc(func(group string, ts []*asynq.Task) *asynq.Task {
			var buf bytes.Buffer
			for i, t := range ts {
				if i > 0 {
					buf.WriteByte('\n')
				}
				buf.Write(t.Payload())
			}
			return asynq.NewTask(batchType, buf.Bytes())
		}),
		Logger:   quietLogger{},
		LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(batchType, func(_ context.Context, t *asynq.Task) error {
		got.Add(int64(bytes.Count(t.Payload(), []byte{'\n'}) + 1))
		last.Store(time.Now().UnixNano())
		return nil
	})
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	deadline := start.Add(timeout)
	for got.Load() < int64(want) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("aggregation baseline: %d of %d URLs handled within %s", got.Load(), want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Unix(0, last.Load()).Sub(start), nil
}

// quietLogger drops asynq's logging in the baseline, except errors.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"bench: asynq:"}, args...)...)
}
func (quietLogger) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"bench: asynq:"}, args...)...)
}

var _ asynq.Logger = quietLogger{}
