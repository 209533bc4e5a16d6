package main
import (
 _ "github.com/hibiken/asynq"
 _ "github.com/hibiken/asynqmon"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/caarlos0/env/v11"
 _ "go.uber.org/zap"
 _ "go.uber.org/zap/zaptest"
 _ "go.uber.org/goleak"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "golang.org/x/term"
)
func main(){}
