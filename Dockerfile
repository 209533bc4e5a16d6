# syntax=docker/dockerfile:1
# cipurge: both commands (worker, enqueue) as static binaries in a minimal non-root image.
#
#   docker build -t cipurge:local --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -e REDIS_URL=redis://redis:6379/0 -e UI_PASSWORD=... cipurge:local           # the worker
#   docker run --rm -e REDIS_URL=... --entrypoint enqueue cipurge:local status                   # the CLI
#
# HEALTHCHECK runs `worker healthcheck`, which asks the worker's own /healthz (the final image has
# no shell, curl or wget). Kubernetes: httpGet probes on /healthz (liveness) and /readyz
# (readiness). See docs/operations.md.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/cipurge/cipurge/internal/defaults.Version=${VERSION}" \
      -o /out/ ./cmd/worker ./cmd/enqueue

# distroless/static: CA certificates (for https://api.cloudimage.com and rediss://), tzdata, a
# nonroot user (65532), no shell and no package manager. Its tags name no version (:nonroot moves
# with every rebuild), so it is pinned by digest; with a digest, the tag is only a label. This is
# the digest public repositories pin for :nonroot (kilo666mj/taskboard's Dockerfile, and one that
# dates it "as of 2026-08-26"); it was not pulled here (no registry access). To update:
#   crane digest gcr.io/distroless/static-debian12:nonroot
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/worker /out/enqueue /usr/local/bin/
USER nonroot:nonroot
# In a container the UI must be reachable from outside it, so the worker listens on every
# interface; it then refuses to start without UI_PASSWORD (basic auth on the UI).
ENV HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/worker", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/worker"]
