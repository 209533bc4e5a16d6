package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit is the shared rate limit: Rate API calls per second for every worker together, with
// Burst calls allowed at once. Rate <= 0 means no limit (the sandbox benchmark).
type Limit struct {
	Rate  float64
	Burst int
	// Horizon is how far ahead a call may reserve its send time: Admit answers Go with the wait
	// until that time, and the caller sends then without asking again. A call that would have to
	// wait longer is not counted and is told to come back (Throttled). 0 reserves only "now".
	Horizon time.Duration
}

func (l Limit) emissionMS() float64 {
	if l.Rate <= 0 {
		return 0
	}
	return 1000 / l.Rate
}

// Admission is what Admit decided.
type Admission struct {
	Verdict Verdict
	Wait    time.Duration // with Go: until the reserved send time; with Paused, Throttled, Yield: come back then
	Now     int64         // the Redis clock (ms) at the decision: a send that follows is after it
	Dropped []bool        // per URL: already satisfied by a later invalidation, a prefix or a flush-all
	Held    []bool        // per URL: a prefix that covers it waits to be sent; send it later or not at all
	Reason  string        // with Paused: why every worker pauses; with Yield, for a prefix: which prefix covers it
}

// Live returns the URLs that Admit neither dropped nor held.
func (a *Admission) Live(urls []string) []string {
	out := make([]string, 0, len(urls))
	for i, u := range urls {
		if (i >= len(a.Dropped) || !a.Dropped[i]) && (i >= len(a.Held) || !a.Held[i]) {
			out = append(out, u)
		}
	}
	return out
}

// HeldURLs returns the URLs that a waiting prefix holds.
func (a *Admission) HeldURLs(urls []string) []string {
	var out []string
	for i, u := range urls {
		if i < len(a.Held) && a.Held[i] {
			out = append(out, u)
		}
	}
	return out
}

// Admit decides, in one round trip, whether a request for urls may be sent now.
// requestedAt is the request time, in Redis milliseconds.
//
// The checks run in this order.
//   - URLs invalidated after requestedAt are dropped.
//   - URLs covered by a flush-all or a prefix sent after requestedAt are dropped.
//   - A prefix under a prefix that waits to be sent yields to it.
//   - The shared pause applies.
//   - The outage probe applies.
//   - The priority rule applies.
//   - The GCRA rate limit applies.
//
// The rate limit is a reservation.
// A call that may go within lim.Horizon is counted now and told when to send.
// So each call asks about once, however many wait, and nothing polls.
//
// Status checks (prio Status) count against a limit of their own.
// So do prefix requests (prio Folder, FolderBulk).
// Neither ever yields to URLs.
// A bulk prefix yields to an interactive one.
//
// An outage is a backoff round that has ended with no success since.
// After one, only one request at a time may probe the API.
// The others wait for its answer.
// So a long outage costs one call and one counted failure per round.
// It does not cost one per waiting request.
//
// A nil urls slice admits a call that names no URL, such as a flush-all or a status check.
func (s *Store) Admit(ctx context.Context, urls []string, requestedAt int64, prio Priority, lim Limit) (*Admission, error) {
	keys := make([]string, 0, admitFixedKeys+len(urls))
	own, hot := s.k.RateStatus, s.k.Hot // the budget of a priority with a limit of its own; who waits first
	if prio == Folder || prio == FolderBulk {
		own, hot = s.k.RatePrefix, s.k.HotPrefix
	}
	keys = append(keys, s.k.Rate, s.k.Pause, hot, s.k.All, s.k.PauseRuns, s.k.Probe, own, s.k.PrefixSent, s.k.PrefixWaiting)
	args := []any{requestedAt, int(prio), lim.emissionMS(), max(lim.Burst, 1), probeLease.Milliseconds(), lim.Horizon.Milliseconds(), 0}
	// Only a send after the request satisfies it: the buckets from the request's epoch to now (the
	// local clock, an hour ahead for skew; a bucket missed only costs a resend), within the TTL.
	var l historyLayout
	if len(urls) > 0 {
		l = s.layout(ctx)
	}
	local := time.Now().UnixMilli()
	to := max(local, requestedAt) + historyHour
	for i, u := range urls {
		f, shard := HistoryField(u)
		b := l.buckets(s.k, requestedAt, to, local, shard)
		if i == 0 {
			args[6] = len(b)
		}
		keys = append(keys, s.k.History(u))
		keys = append(keys, b...)
		args = append(args, f)
	}
	res, err := admitScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("admit: %w", err)
	}
	if len(res) < 4 {
		return nil, fmt.Errorf("admit: short reply %v", res)
	}
	code, _ := res[0].(int64)
	wait, _ := res[1].(int64)
	now, _ := res[2].(int64)
	reason, _ := res[3].(string)
	a := &Admission{Verdict: Verdict(code), Wait: time.Duration(wait) * time.Millisecond, Now: now, Reason: reason}
	if len(urls) > 0 {
		a.Dropped, a.Held = make([]bool, len(urls)), make([]bool, len(urls))
		for i := range urls {
			if 4+i < len(res) {
				d, _ := res[4+i].(int64)
				a.Dropped[i], a.Held[i] = d == 1, d == 2
			}
		}
	}
	return a, nil
}

// probeLease bounds how long one probe request holds the right to probe (the API client's timeout).
const probeLease = 30 * time.Second

// Sent records that urls, requested at requestedAt, were accepted by the API in the request uuid
// that was admitted at sentAt. Every later Admit drops requests for these URLs made before sentAt.
// It also resets the outage backoff and counts the call for the cluster-wide send rate.
func (s *Store) Sent(ctx context.Context, urls []string, requestedAt, sentAt int64, uuid string, historyTTL time.Duration) error {
	sec := sentAt / 1000
	keys := make([]string, 0, sentFixedKeys+len(urls))
	step := s.layout(ctx).epoch
	keys = append(keys, s.k.Stats, s.k.SentSecond(sec), s.k.CallsSecond(sec), s.k.PauseRuns, s.k.Probe, s.k.HistoryCalls(sentAt, step))
	expireAt := sentAt - sentAt%step + step + historyTTL.Milliseconds()
	args := []any{requestedAt, sentAt, uuid, expireAt, rateWindowS}
	for _, u := range urls {
		f, shard := HistoryField(u)
		keys = append(keys, s.k.History(u), s.k.HistoryEpoch(sentAt, step, shard))
		args = append(args, f)
	}
	err := sentScript.Run(ctx, s.rdb, keys, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("record sent: %w", err)
	}
	return nil
}

// Succeeded records an API call that succeeded without sending URLs (a status check, a
// flush-all): the outage, if any, is over.
func (s *Store) Succeeded(ctx context.Context) error {
	return s.rdb.Del(ctx, s.k.PauseRuns, s.k.Probe).Err()
}

// EndProbe gives up the right to probe after an outage when the probe ended without telling
// whether the API works (a rejected request, a rejected key, a shutdown).
func (s *Store) EndProbe(ctx context.Context) error {
	return s.rdb.Del(ctx, s.k.Probe).Err()
}

// CountDropped adds n to the cluster-wide count of requests dropped as already satisfied.
func (s *Store) CountDropped(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	return s.rdb.HIncrBy(ctx, s.k.Stats, FieldStatDropped, int64(n)).Err()
}

// Pause makes every worker wait d before its next call (it only ever lengthens a pause), with
// reason shown in logs, readiness and the status command (a 429 with Retry-After). After it, one
// request probes the API before the others follow, as after an outage.
func (s *Store) Pause(ctx context.Context, reason string, d time.Duration) error {
	return pauseScript.Run(ctx, s.rdb, []string{s.k.Pause, s.k.Probe, s.k.PauseRuns}, reason, d.Milliseconds()).Err()
}

// Backoff pauses every worker for the next step of a shared exponential backoff (base, doubled
// per round since the last success, capped at ceiling, with up to 20% jitter) and returns the
// pause. It is used for a 429 without Retry-After, so that the whole fleet, not each task, backs
// off. A failure while a pause is already on belongs to the same round: it does not lengthen the
// backoff, so many requests failing at once count as one step.
func (s *Store) Backoff(ctx context.Context, reason string, base, ceiling time.Duration) (time.Duration, error) {
	return s.backoff(ctx, reason, base, ceiling, 0)
}

// OutageBackoff pauses every worker after an outage (5xx, network): the first round waits base
// (capped at every), each later round exactly every. After each pause one request probes the API
// (see Admit), so an outage costs at most one call per every, and sending resumes at most every
// after the API is back.
func (s *Store) OutageBackoff(ctx context.Context, reason string, base, every time.Duration) (time.Duration, error) {
	return s.backoff(ctx, reason, min(base, every), every, every)
}

func (s *Store) backoff(ctx context.Context, reason string, base, ceiling, fixed time.Duration) (time.Duration, error) {
	ms, err := backoffScript.Run(ctx, s.rdb, []string{s.k.Pause, s.k.PauseRuns, s.k.Probe}, reason,
		base.Milliseconds(), ceiling.Milliseconds(), rand.Float64()*0.2, fixed.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("backoff: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// PauseState returns the current shared pause: its reason and how long it still runs.
func (s *Store) PauseState(ctx context.Context) (reason string, left time.Duration, err error) {
	pipe := s.rdb.Pipeline()
	r := pipe.Get(ctx, s.k.Pause)
	t := pipe.PTTL(ctx, s.k.Pause)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", 0, fmt.Errorf("pause state: %w", err)
	}
	if t.Val() <= 0 {
		return "", 0, nil
	}
	return r.Val(), t.Val(), nil
}

// SendRate returns the URLs and API calls sent per second by all workers over the last window
// (at most two minutes), from the per-second counters the Sent script keeps.
func (s *Store) SendRate(ctx context.Context, window time.Duration) (urlsPerSec, callsPerSec float64, err error) {
	now, err := s.Now(ctx)
	if err != nil {
		return 0, 0, err
	}
	secs := int64(min(max(window/time.Second, 1), rateWindowS-1))
	end := now/1000 - 1 // the current second is still filling
	pipe := s.rdb.Pipeline()
	urls := make([]*redis.StringCmd, 0, secs)
	calls := make([]*redis.StringCmd, 0, secs)
	for sec := end - secs + 1; sec <= end; sec++ {
		urls = append(urls, pipe.Get(ctx, s.k.SentSecond(sec)))
		calls = append(calls, pipe.Get(ctx, s.k.CallsSecond(sec)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("send rate: %w", err)
	}
	var u, c int64
	for i := range urls {
		a, _ := urls[i].Int64()
		b, _ := calls[i].Int64()
		u += a
		c += b
	}
	return float64(u) / float64(secs), float64(c) / float64(secs), nil
}

// Totals are cluster-wide counters since the Redis data was created.
type Totals struct {
	URLsSent, Calls, Dropped int64
}

// Totals returns the cluster-wide counters.
func (s *Store) Totals(ctx context.Context) (Totals, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.Stats).Result()
	if err != nil {
		return Totals{}, fmt.Errorf("totals: %w", err)
	}
	atoi := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	return Totals{URLsSent: atoi(FieldStatURLsSent), Calls: atoi(FieldStatCalls), Dropped: atoi(FieldStatDropped)}, nil
}
