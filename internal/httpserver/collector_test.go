package httpserver_test

import (
	"context"
	"github.com/cipurge/cipurge/internal/testkit"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/httpserver"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/internal/webhook"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// gather collects c once and returns its samples by name{label="value",...} (labels sorted).
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks the metrics against their descriptions
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[sampleName(mf.GetName(), m)] = value(mf.GetType(), m)
		}
	}
	return out
}

func sampleName(name string, m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name + "{")
	for i, l := range m.GetLabel() {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
	}
	return b.String() + "}"
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return -1
}

func qt(queue, state string) string {
	return `cipurge_queue_tasks{queue="` + queue + `",state="` + state + `"}`
}

// A Redis that no task has touched: every queue reports zeros, not an error.
func TestCollectorFreshRedis(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	got := gather(t, httpserver.NewQueueCollector(r.Client(), httpserver.QueueCollectorOptions{}))
	if got["cipurge_queue_collector_up"] != 1 {
		t.Fatalf("cipurge_queue_collector_up = %v, want 1: %v", got["cipurge_queue_collector_up"], got)
	}
	n := 0
	for _, q := range append(tasks.QueueNames(), webhook.Queue) {
		for _, s := range []string{"pending", "active", "scheduled", "retry", "archived", "completed"} {
			v, ok := got[qt(q, s)]
			if !ok || v != 0 {
				t.Errorf("%s = %v (present %v), want 0", qt(q, s), v, ok)
			}
			n++
		}
	}
	if n != 30 {
		t.Errorf("checked %d series, want 30 (5 queues, webhooks the fifth, x 6 states)", n)
	}
	for _, name := range []string{"cipurge_pending_urls", "cipurge_pending_oldest_age_seconds", "cipurge_paused", "cipurge_pause_remaining_seconds"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}
	if _, ok := got["cipurge_api_key_rejected"]; ok {
		t.Errorf("cipurge_api_key_rejected reported without a readiness check")
	}
}

// Queue sizes by state, the pending set, the pause and the key state, as they are in Redis.
func TestCollectorReadsRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	rdb := r.Client()
	cli := asynq.NewClientFromRedisClient(rdb)
	enq := func(id string, opts ...asynq.Option) {
		t.Helper()
		if _, err := cli.Enqueue(asynq.NewTask("test:noop", []byte(`{}`)), append(opts, asynq.TaskID(id))...); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"b1", "b2", "b3"} {
		enq(id, asynq.Queue(tasks.QueueBulk))
	}
	enq("s1", asynq.Queue(tasks.QueueBulk), asynq.ProcessIn(time.Hour))
	enq("p1", asynq.Queue(tasks.QueueInteractive))
	insp := asynq.NewInspectorFromRedisClient(rdb)
	must(t, insp.ArchiveTask(tasks.QueueInteractive, "p1"))
	must(t, insp.PauseQueue(tasks.QueueBulk))

	st := store.New(rdb)
	if _, err := st.AddPending(ctx, "", []string{"https://img.example.com/a.jpg", "https://img.example.com/b.jpg"}); err != nil {
		t.Fatal(err)
	}
	// Age the oldest pending entry by a minute (scores are request times in ms, Redis clock).
	now, err := st.Now(ctx)
	must(t, err)
	must(t, rdb.ZAdd(ctx, store.KeyPending, redis.Z{Score: float64(now - 60_000), Member: "https://img.example.com/a.jpg"}).Err())
	must(t, st.Pause(ctx, "rate_limited", time.Minute))

	got := gather(t, httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{KeyRejected: func(string) bool { return true }}))
	for name, want := range map[string]float64{
		qt("bulk", "pending"): 3, qt("bulk", "scheduled"): 1, qt("bulk", "archived"): 0,
		qt("purge", "archived"): 1, qt("purge", "pending"): 0, qt("flush-all", "pending"): 0,
		`cipurge_queue_paused{queue="bulk"}`: 1, `cipurge_queue_paused{queue="purge"}`: 0,
		"cipurge_pending_urls": 2, "cipurge_paused": 1, "cipurge_api_key_rejected": 1, "cipurge_queue_collector_up": 1,
		"cipurge_dead_letters": 1, // p1, archived with no record of the product: the count the status shows
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if age := got["cipurge_pending_oldest_age_seconds"]; age < 60 || age > 3600 {
		t.Errorf("cipurge_pending_oldest_age_seconds = %v, want about 60", age)
	}
	if left := got["cipurge_pause_remaining_seconds"]; left <= 0 || left > 60 {
		t.Errorf("cipurge_pause_remaining_seconds = %v, want in (0, 60]", left)
	}
	if lat := got[`cipurge_queue_latency_seconds{queue="bulk"}`]; lat < 0 {
		t.Errorf("bulk latency %v < 0", lat)
	}
}

// One reading serves every scrape for CacheFor; after it, the next scrape reads Redis again.
func TestCollectorCaches(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	rdb := r.Client()
	cached := httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{CacheFor: time.Hour})
	fresh := httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{CacheFor: time.Nanosecond})
	if v := gather(t, cached)[qt("purge", "pending")]; v != 0 {
		t.Fatalf("purge pending = %v before any task", v)
	}
	gather(t, fresh)
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("test:noop", nil), asynq.Queue(tasks.QueueInteractive)); err != nil {
		t.Fatal(err)
	}
	if v := gather(t, cached)[qt("purge", "pending")]; v != 0 {
		t.Errorf("a scrape within CacheFor read Redis again: purge pending = %v, want the cached 0", v)
	}
	if v := gather(t, fresh)[qt("purge", "pending")]; v != 1 {
		t.Errorf("a scrape after CacheFor: purge pending = %v, want 1", v)
	}
}

// A Redis that does not answer in time: the scrape reports the collector down at once instead of
// hanging, and reports the reading once it arrives.
func TestCollectorSlowRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testredis.Start(t)
	rdb := r.Client()
	c := httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{Timeout: 100 * time.Millisecond, CacheFor: time.Nanosecond})
	// Every client but this one now waits: the collector's reading blocks until the pause ends.
	must(t, r.Client().Do(ctx, "CLIENT", "PAUSE", 3000, "ALL").Err())
	got := gather(t, c)
	if got["cipurge_queue_collector_up"] != 0 || got["cipurge_queue_collector_errors_total"] < 1 {
		t.Errorf("scrape during a Redis pause: up = %v, errors = %v; want 0 and at least 1",
			got["cipurge_queue_collector_up"], got["cipurge_queue_collector_errors_total"])
	}
	if _, ok := got[qt("purge", "pending")]; ok {
		t.Errorf("a scrape without a reading reported queue sizes")
	}
	// A second scrape while the first reading still waits starts no second reading.
	if got := gather(t, c); got["cipurge_queue_collector_up"] != 0 {
		t.Errorf("second scrape during the pause: up = %v, want 0", got["cipurge_queue_collector_up"])
	}
	testkit.WaitFor(t, 20*time.Second, "the collector to report a reading after the pause", func() bool {
		return gather(t, c)["cipurge_queue_collector_up"] == 1
	})
}

// Redis gone: the collector reports itself down and counts the error; the scrape still answers.
func TestCollectorRedisDown(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	rdb := r.Client()
	c := httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{CacheFor: time.Nanosecond, Timeout: 10 * time.Second})
	if gather(t, c)["cipurge_queue_collector_up"] != 1 {
		t.Fatal("collector down on a live Redis")
	}
	r.Kill()
	got := gather(t, c)
	if got["cipurge_queue_collector_up"] != 0 || got["cipurge_queue_collector_errors_total"] != 1 {
		t.Errorf("Redis down: up = %v, errors = %v; want 0 and 1", got["cipurge_queue_collector_up"], got["cipurge_queue_collector_errors_total"])
	}
	if _, ok := got["cipurge_pending_urls"]; ok {
		t.Errorf("Redis down: cipurge_pending_urls still reported")
	}
}

// The cost of one reading of Redis (CacheFor 1 ns: every scrape reads) and of a cached scrape, with
// a backlog of 20,000 bulk tasks and 5,000 pending URL requests.
func BenchmarkQueueCollector(b *testing.B) {
	ctx := context.Background()
	r := testredis.Start(b)
	rdb := r.Client()
	cli := asynq.NewClientFromRedisClient(rdb)
	for i := range 20_000 {
		if _, err := cli.Enqueue(asynq.NewTask("test:noop", []byte(`{"urls":["https://img.example.com/a.jpg"]}`)), asynq.Queue(tasks.QueueBulk),
			asynq.TaskID("t"+strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = "https://img.example.com/p/" + strconv.Itoa(i) + ".jpg"
	}
	if _, err := store.New(rdb).AddPending(ctx, "", keys); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		c        time.Duration
		accounts []string
	}{{"reading", time.Nanosecond, nil}, {"cached", time.Hour, nil},
		{"reading-1-account", time.Nanosecond, []string{"default"}},
		{"reading-3-accounts", time.Nanosecond, []string{"default", "shop-a", "shop-b"}}} {
		b.Run(bc.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(httpserver.NewQueueCollector(rdb, httpserver.QueueCollectorOptions{CacheFor: bc.c, Accounts: bc.accounts}))
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCollectorPerAccount: with Accounts, each account's queues are reported, and its pending
// set, pause, dead letters and send gate carry the label account.
func TestCollectorPerAccount(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t)
	ctx := context.Background()
	if _, err := store.New(r.Client()).For("shop-a").AddPending(ctx, "", []string{"https://img.example.com/a.jpg", "https://img.example.com/b.jpg"}); err != nil {
		t.Fatal(err)
	}
	// Only shop-a's lane stopped sending, and only shop-b's key is rejected.
	got := gather(t, httpserver.NewQueueCollector(r.Client(), httpserver.QueueCollectorOptions{Accounts: []string{"default", "shop-a", "shop-b"},
		SendingStopped: func(a string) bool { return a == "shop-a" }, KeyRejected: func(a string) bool { return a == "shop-b" }}))
	for name, want := range map[string]float64{
		`cipurge_sending_stopped{account="shop-a"}`: 1, `cipurge_sending_stopped{account="shop-b"}`: 0, `cipurge_sending_stopped{account="default"}`: 0,
		`cipurge_api_key_rejected{account="shop-b"}`: 1, `cipurge_api_key_rejected{account="shop-a"}`: 0, `cipurge_api_key_rejected{account="default"}`: 0,
		`cipurge_pending_urls{account="shop-a"}`: 2, `cipurge_pending_urls{account="default"}`: 0,
		`cipurge_paused{account="shop-a"}`: 0, `cipurge_dead_letters{account="default"}`: 0,
		qt("purge:shop-a", "pending"): 0, qt("purge", "pending"): 0, qt(webhook.Queue, "pending"): 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"cipurge_pending_urls", "cipurge_sending_stopped", "cipurge_api_key_rejected"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s without its account", name)
		}
	}
}
