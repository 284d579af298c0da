#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need
# when it is missing, then runs every check and every test. Exit 0 = all green.
#
#   ./scripts/test.sh            everything (what CI runs)
#   ./scripts/test.sh -short     skip the slow cluster/sentinel/soak variants
#   REDISTEST_LONG=1 ./scripts/test.sh   also the long variants (repeated slot
#                                migrations under load)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v chromium >/dev/null 2>&1 || need+=(chromium) # the status page's browser test
if [ ${#need[@]} -gt 0 ]; then
	echo "test.sh: installing ${need[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is required (https://go.dev/dl/)"; exit 1; }

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
if ! command -v staticcheck >/dev/null 2>&1; then
	GOBIN="$(go env GOPATH)/bin" go install "honnef.co/go/tools/cmd/staticcheck@v0.8.2" >/dev/null 2>&1 || true
	export PATH="$(go env GOPATH)/bin:$PATH"
fi
if command -v staticcheck >/dev/null 2>&1; then
	staticcheck ./...
else
	echo "test.sh: staticcheck could not be installed; skipped" >&2
fi

echo "== helm (the chart's lint and render tests)"
if ! command -v helm >/dev/null 2>&1; then
	GOBIN="$(go env GOPATH)/bin" go install helm.sh/helm/v3/cmd/helm@v3.22.0
	export PATH="$(go env GOPATH)/bin:$PATH"
fi

echo "== go test -race"
# Tests whose tool is installed above fail instead of skipping without it.
export DEPLOYTEST_REQUIRE_HELM=1 TELEMETRYTEST_REQUIRE_CHROMIUM=1 DEPLOYTEST_REQUIRE_UNGATED=1
# Tests that need redis-server fail (instead of skipping) when it is missing.
export REDISTEST_REQUIRE_REDIS=1
go test -race -timeout 25m "$@" ./...
