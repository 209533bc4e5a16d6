package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// redisTimeout bounds each dial, read and write of the Redis client.
const redisTimeout = 5 * time.Second

// RedisClient builds the Redis client the configuration describes: REDIS_URL alone, or Sentinel
// (REDIS_SENTINEL_ADDRS + REDIS_SENTINEL_MASTER) or Cluster (REDIS_CLUSTER_ADDRS) with the user,
// password, database and TLS of REDIS_URL. REDIS_TLS_CA_FILE adds a CA for rediss://; TLS is always
// verified.
func (c *Config) RedisClient() (redis.UniversalClient, error) {
	r := c.Redis
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL is not a Redis URL: use redis://[user:password@]host:port/db, or rediss:// for TLS (the parser said: %v)", redactURLError(err, r.URL))
	}
	if r.TLSCAFile != "" {
		if opt.TLSConfig == nil {
			return nil, errors.New("REDIS_TLS_CA_FILE is set but REDIS_URL does not use TLS: use a rediss:// URL")
		}
		pem, err := os.ReadFile(r.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE=%s holds no PEM certificate", r.TLSCAFile)
		}
		opt.TLSConfig.RootCAs = pool
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
	}
	const timeout = redisTimeout
	switch {
	case len(r.ClusterAddrs) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.ClusterAddrs, Username: opt.Username, Password: opt.Password, TLSConfig: opt.TLSConfig,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), nil
	case len(r.SentinelAddrs) > 0:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: r.SentinelMaster, SentinelAddrs: r.SentinelAddrs,
			Username: opt.Username, Password: opt.Password, DB: opt.DB, TLSConfig: opt.TLSConfig,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), nil
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	return redis.NewClient(opt), nil
}

// Where says which Redis the configuration points at, without a password.
func (c *Config) Where() string {
	r := c.Redis
	switch {
	case len(r.ClusterAddrs) > 0:
		return "Redis Cluster " + strings.Join(r.ClusterAddrs, ",")
	case len(r.SentinelAddrs) > 0:
		return "Redis Sentinel master " + r.SentinelMaster + " via " + strings.Join(r.SentinelAddrs, ",")
	}
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		return "Redis"
	}
	return "Redis at " + opt.Addr
}

// Ping checks that Redis answers, with an error that says what to fix.
func (c *Config) Ping(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	msg := err.Error()
	hint := "check REDIS_URL and that Redis is running"
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "invalid password"):
		hint = "check the password in REDIS_URL (redis://:password@host:6379/0)"
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls"):
		hint = "check the TLS setup: rediss:// and REDIS_TLS_CA_FILE"
	}
	return fmt.Errorf("cannot reach %s: %v: %s", c.Where(), err, hint)
}

// redactURLError keeps a password in REDIS_URL out of an error message.
func redactURLError(err error, raw string) string {
	msg := err.Error()
	if i := strings.Index(raw, "://"); i >= 0 {
		if at := strings.LastIndex(raw, "@"); at > i {
			if userinfo := raw[i+3 : at]; userinfo != "" {
				msg = strings.ReplaceAll(msg, userinfo, "[redacted]")
			}
		}
	}
	return msg
}

// Logger builds the zap logger LOG_LEVEL and LOG_FORMAT describe, writing to w.
func (c *Config) Logger(w io.Writer) *zap.Logger {
	level := zapcore.InfoLevel
	_ = level.UnmarshalText([]byte(c.Log.Level))
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if c.Log.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level))
}
