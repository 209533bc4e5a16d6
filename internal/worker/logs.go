package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// redisWatch says, once, when this worker loses Redis and, once, when it has it back. Every Redis
// error the worker meets is reported to it (the task server's health check, readiness, asynq's own
// log lines); while Redis is down, asynq's lines about it go to debug and a reminder is logged at
// most once per remindEvery, so an outage costs a few lines, not one per component per second.
type redisWatch struct {
	log         *zap.Logger
	ping        func(ctx context.Context) error
	now         func() time.Time
	remindEvery time.Duration
	checkEvery  time.Duration

	mu        sync.Mutex
	down      bool
	since     time.Time
	reminded  time.Time
	lastCheck time.Time
}

func newRedisWatch(log *zap.Logger, ping func(ctx context.Context) error) *redisWatch {
	return &redisWatch{log: log, ping: ping, now: time.Now, remindEvery: 5 * time.Minute, checkEvery: time.Second}
}

// report records the outcome of a Redis call: nil when it worked.
func (r *redisWatch) report(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	switch {
	case err != nil && !r.down:
		r.down, r.since, r.reminded = true, now, now
		r.log.Error("Redis is unreachable: nothing is sent or enqueued until it is back; queued work stays in Redis",
			zap.Error(err))
	case err != nil && now.Sub(r.reminded) >= r.remindEvery:
		r.reminded = now
		r.log.Error("Redis is still unreachable", zap.Duration("down_for", now.Sub(r.since).Round(time.Second)), zap.Error(err))
	case err == nil && r.down:
		r.down = false
		r.log.Warn("Redis is reachable again", zap.Duration("down_for", now.Sub(r.since).Round(time.Second)))
	}
}

// isDown reports whether Redis is down, pinging it first (at most once per checkEvery) so that the
// answer is fresh when asynq starts to complain.
func (r *redisWatch) isDown() bool {
	r.mu.Lock()
	due := r.now().Sub(r.lastCheck) >= r.checkEvery
	if due {
		r.lastCheck = r.now()
	}
	r.mu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r.report(r.ping(ctx))
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down
}

// asynqLogger passes asynq's log through zap (logger "asynq"): each distinct message at most once a
// minute (asynq repeats its complaints every second or so), its complaints at debug while Redis is
// known to be down (redisWatch says so once), and never "Retry exhausted", which follows every dead
// letter the worker already logged in its own words (onTaskError).
type asynqLogger struct {
	s     *zap.SugaredLogger
	redis *redisWatch
}

// newAsynqLogger returns the adapter; base is the worker's logger.
func newAsynqLogger(base *zap.Logger, redis *redisWatch) asynqLogger {
	sampled := base.Named("asynq").WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Minute, 1, 0)
	}))
	return asynqLogger{s: sampled.Sugar(), redis: redis}
}

// complaint logs an asynq warning or error: at debug while Redis is down.
func (l asynqLogger) complaint(level zapcore.Level, args ...any) {
	msg := strings.TrimSpace(strings.TrimSuffix(fmtArgs(args), "\n"))
	if strings.HasPrefix(msg, "Retry exhausted for task") {
		return
	}
	if l.redis != nil && l.redis.isDown() {
		l.s.Debug(msg)
		return
	}
	if level == zapcore.ErrorLevel {
		l.s.Error(msg)
	} else {
		l.s.Warn(msg)
	}
}

func fmtArgs(args []any) string { return fmt.Sprint(args...) }

func (l asynqLogger) Debug(args ...any) { l.s.Debug(args...) }
func (l asynqLogger) Info(args ...any)  { l.s.Info(args...) }
func (l asynqLogger) Warn(args ...any)  { l.complaint(zapcore.WarnLevel, args...) }
func (l asynqLogger) Error(args ...any) { l.complaint(zapcore.ErrorLevel, args...) }
func (l asynqLogger) Fatal(args ...any) { l.complaint(zapcore.ErrorLevel, args...) }
