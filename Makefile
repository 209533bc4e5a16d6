# cipurge: a durable purge worker for the Cloudimage Invalidation API.
# `make help` lists the targets. The README's commands are these targets.

GO       ?= go
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/cipurge/cipurge/internal/defaults.Version=$(VERSION)
# Integration tests mostly wait on timers; run many at once even on 2 cores.
PARALLEL ?= 8
# staticcheck, pinned; `go run` fetches it through the Go module proxy on a fresh machine.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.7.0

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/worker and bin/enqueue
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/worker ./cmd/enqueue

.PHONY: run
run: ## build bin/worker and bin/enqueue, run a worker against the sandbox API and REDIS_URL's Redis (a local one is started if none answers)
	./scripts/ensure-redis.sh
	@# Both commands, with the flags of make build: the README's ./bin/enqueue needs no second compile.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/worker ./cmd/enqueue
	@# Ctrl-C reaches the worker alone (scripts/foreground.sh), which shuts down cleanly and exits 0,
	@# and so does make (go run, or make itself catching the Ctrl-C, would report a failure).
	@# With ACCOUNTS_FILE the file owns the token: no default then (several accounts refuse one).
	tok=$${CLOUDIMAGE_TOKEN:-demo}; [ -z "$$ACCOUNTS_FILE" ] || tok=$${CLOUDIMAGE_TOKEN:-}; \
	CLOUDIMAGE_SANDBOX=$${CLOUDIMAGE_SANDBOX:-true} CLOUDIMAGE_TOKEN=$$tok \
	LOG_FORMAT=$${LOG_FORMAT:-console} exec ./scripts/foreground.sh ./bin/worker

.PHONY: redis-stop
redis-stop: ## stop the Redis that make run started (data stays in .data/redis)
	./scripts/ensure-redis.sh stop

.PHONY: test
test: ## run every test: unit, and integration on private redis-server processes
	$(GO) test -count=1 -parallel $(PARALLEL) -timeout 15m $(PKGS)

.PHONY: test-unit
test-unit: ## the fast unit tests only (no Redis needed)
	$(GO) test -count=1 ./pkg/normalize/... ./pkg/apiclient/... ./pkg/tasks/... ./internal/sandbox/... ./internal/config/...

.PHONY: test-faults
test-faults: ## fault tests: killed workers, Redis restarts, outages, Sentinel, Cluster
	$(GO) test -count=1 -tags faults -parallel 2 -timeout 30m -run 'Fault' -v ./internal/faults/

.PHONY: bench
bench: ## the product against plain asynq, on a private Redis (docs/performance.md)
	$(GO) run ./cmd/bench

.PHONY: bench-smoke
bench-smoke: ## the benchmark at small sizes, to prove it runs (CI)
	$(GO) run ./cmd/bench -smoke

.PHONY: gobench
gobench: ## Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./internal/store/... ./internal/cli/... ./internal/intake/... ./internal/worker/...

.PHONY: fuzz
fuzz: ## fuzz the normaliser for a minute
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 60s ./pkg/normalize/

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, and no binary or large file tracked
	./scripts/check-tracked-files.sh
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)
	$(GO) vet $(PKGS)
	$(GO) vet -tags faults ./internal/faults/
	$(GO) vet -tags browser ./internal/browsertest/
	$(GO) vet -tags alerts ./internal/alertstest/
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run $(STATICCHECK) -tags faults ./internal/faults/
	$(GO) run $(STATICCHECK) -tags browser ./internal/browsertest/
	$(GO) run $(STATICCHECK) -tags alerts ./internal/alertstest/

# docker-compose (v1, Debian's package) or the docker compose plugin: either validates without an engine.
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

.PHONY: compose-check
compose-check: ## validate docker-compose.yml (needs docker-compose; no engine needed)
	@command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || \
	  { echo 'compose-check: needs docker-compose (Debian: apt-get install docker-compose) or the docker compose plugin; no engine is needed'; exit 2; }
	@# Valid with nothing set: `compose run enqueue` needs no UI_PASSWORD (the worker reads it from a secret file).
	env -u UI_PASSWORD $(COMPOSE) -f docker-compose.yml config -q
	@# The UI port is published on the host's loopback only.
	@$(COMPOSE) -f docker-compose.yml config | grep -q '127.0.0.1:8080:8080' || \
	  (echo 'compose-check: the UI port must be published on 127.0.0.1 only'; exit 1)
	@# Secrets come from files mounted as compose secrets, never from the environment.
	@for s in REDIS_URL CLOUDIMAGE_API_KEY UI_PASSWORD INTAKE_TOKEN INTAKE_FLUSH_TOKEN EVENTS_TOKEN; do \
	  $(COMPOSE) -f docker-compose.yml config | grep -q "$${s}_FILE: /run/secrets/" || \
	    { echo "compose-check: the worker must read $$s from a compose secret ($${s}_FILE)"; exit 1; }; \
	  ! grep -q "^ *$$s:" docker-compose.yml || { echo "compose-check: $$s must not be an environment variable"; exit 1; }; \
	done
	@# compose-secrets.sh writes every mounted secret, readable by the image's nonroot user, in a 0700 directory.
	@scripts/check-compose-secrets.sh
	@# The worker and the image check the worker's health with `worker healthcheck`.
	@grep -q '"/usr/local/bin/worker", "healthcheck"' docker-compose.yml && grep -q '"/usr/local/bin/worker", "healthcheck"' Dockerfile || \
	  (echo 'compose-check: the compose healthcheck and the Dockerfile HEALTHCHECK must run worker healthcheck'; exit 1)
	@# Pinned images: no bare major tags, no latest.
	@! grep -nE '^ *image: *[^:]+(:[0-9]+|:latest)?$$' docker-compose.yml | grep -v 'cipurge:local' || \
	  (echo 'compose-check: pin every image to a full version tag'; exit 1)
	@# distroless tags name no version: the Dockerfile pins its base image by digest.
	@grep -qE '^FROM gcr.io/distroless/[^ ]+@sha256:[0-9a-f]{64}$$' Dockerfile || \
	  (echo 'compose-check: pin the distroless image of the Dockerfile by digest (@sha256:...)'; exit 1)
	@echo 'compose-check: docker-compose.yml is valid'

.PHONY: test-alerts
test-alerts: ## check and unit-test deploy/prometheus/alerts.yml with promtool; fire one in a real Prometheus
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	$(GO) test -count=1 -tags alerts -timeout 5m -v ./internal/alertstest/

.PHONY: test-browser
test-browser: ## open asynqmon in headless Chromium against a worker with queued and dead-lettered tasks
	$(GO) test -count=1 -tags browser -timeout 5m -v ./internal/browsertest/

.PHONY: clean
clean: ## remove build output (keeps .data)
	rm -rf bin
