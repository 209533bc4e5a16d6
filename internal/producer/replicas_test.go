package producer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/taskq"
	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestReplicaWait: a master and a replica on loopback. With the replica wait on, AddKeys and
// EnqueueBulk return once the replica holds what they wrote. Asking for two replicas, or the one
// replica stopped, is a *store.ReplicaError naming what it got, and AddKeys says nothing added.
// Off (the zero value), the same stopped replica changes nothing: the write succeeds as today.
func TestReplicaWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := testredis.Start(t)
	replica := testredis.Start(t, testredis.WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port)))
	rc := replica.Client()
	testkit.WaitFor(t, 20*time.Second, "the replica in sync", func() bool {
		link, err := testredis.Info(ctx, rc, "master_link_status")
		return err == nil && link == "up"
	})
	settings := func(r store.Replicas) Settings {
		return Settings{MaxRetry: defaults.MaxRetry, BatchSize: defaults.BatchSize, PolicyEvery: defaults.PolicyEvery, Replicas: r}
	}
	one := New(master.Client(), settings(store.Replicas{N: 1, Timeout: 2 * time.Second}))

	keys := []string{"img.example.com/wait/1.jpg", "img.example.com/wait/2.jpg"}
	added, err := one.AddKeys(ctx, "test", keys)
	must(t, err)
	if len(added) != 2 || !added[0] || !added[1] {
		t.Fatalf("AddKeys with one replica: added %v", added)
	}
	if n, err := rc.ZCard(ctx, store.KeyPending).Result(); err != nil || n != 2 {
		t.Errorf("the replica holds %d pending URLs once AddKeys returned (err %v), want 2", n, err)
	}
	now, err := one.Now(ctx)
	must(t, err)
	if _, err := one.EnqueueBulk(ctx, "test", "", now, []string{"img.example.com/wait/bulk.jpg"}); err != nil {
		t.Fatalf("EnqueueBulk with one replica: %v", err)
	}
	if n, err := rc.LLen(ctx, taskq.PendingKey(tasks.QueueBulk)).Result(); err != nil || n != 1 {
		t.Errorf("the replica holds %d bulk tasks once EnqueueBulk returned (err %v), want 1", n, err)
	}

	// Two replicas asked for, one there: the wait ends at its timeout and says so.
	two := New(master.Client(), settings(store.Replicas{N: 2, Timeout: 50 * time.Millisecond}))
	added, err = two.AddKeys(ctx, "test", []string{"img.example.com/wait/3.jpg"})
	var re *store.ReplicaError
	if !errors.As(err, &re) || re.Want != 2 || re.Got != 1 || added != nil {
		t.Fatalf("AddKeys asking for 2 replicas of 1: added %v, err %v; want a ReplicaError 1 of 2 and nothing said added", added, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "1 of 2 Redis replicas") || !strings.Contains(msg, "INFO replication") {
		t.Errorf("the error does not say what was missing and where to look: %s", msg)
	}

	// The replica stopped: bulk tasks are refused too, and none is counted.
	replica.Stop()
	n, err := one.EnqueueBulk(ctx, "test", "", now, []string{"img.example.com/wait/bulk-2.jpg"})
	if !errors.As(err, &re) || re.Got != 0 || n != 0 {
		t.Fatalf("EnqueueBulk with the replica stopped: %d counted, err %v; want a ReplicaError 0 of 1 and 0 counted", n, err)
	}
	off := New(master.Client(), settings(store.Replicas{}))
	if _, err := off.AddKeys(ctx, "test", []string{"img.example.com/wait/4.jpg"}); err != nil {
		t.Errorf("AddKeys without the replica wait, the replica stopped: %v", err)
	}
}
