# syntax=docker/dockerfile:1
# Build: docker build -t respcache .
# Run:   docker run --rm -p 6380:6380 respcache --upstream redis:6379 --listen 0.0.0.0:6380

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static binary: no libc needed in the runtime image.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/respcache ./cmd/respcache
# distroless has no shell to mkdir with: make the writable data directory here.
RUN mkdir -p /out/var/lib/respcache

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/respcache /usr/local/bin/respcache
# Working directory for the disk store (./data) and the write-back journal
# (./journal), owned by the nonroot user (65532); mount volumes here.
COPY --from=build --chown=65532:65532 /out/var/lib/respcache /var/lib/respcache
WORKDIR /var/lib/respcache
USER nonroot:nonroot
# 6380: RESP; 9380: admin HTTP (health, metrics).
EXPOSE 6380 9380
ENTRYPOINT ["/usr/local/bin/respcache"]
