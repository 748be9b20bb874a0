GOCTL_VERSION ?= v1.10.2
GOCTL := $(shell go env GOPATH)/bin/goctl
CONFIG ?= etc/jobs.yaml

.PHONY: all build run test test-race bench bench-list gen goctl vet fmt services lint screenshots

all: build

build:
	go build -o bin/jobs .

## run: build and start the service (API + workers) on the default config.
run: build services
	./bin/jobs -f $(CONFIG)

## test: every test, against the local MariaDB and Redis (started if not running).
test: services
	go vet ./...
	go test -race -count=1 -timeout 9m ./...

## bench: throughput and latency numbers written up in docs/BENCHMARKS.md (a few minutes);
## pass flags with BENCHFLAGS, e.g. make bench BENCHFLAGS="-only latency".
bench: services
	go run ./cmd/jobsbench $(BENCHFLAGS)

## bench-list: list latency over a million jobs (drops and refills database jobs_listbench);
## numbers in docs/BENCHMARKS-list.md.
bench-list: services
	go run ./cmd/listbench

## screenshots: the dashboard's pages as its browser tests see them, in docs/screenshots/
## (needs chromium).
screenshots: services
	mkdir -p docs/screenshots
	JOBS_SCREENSHOTS=$(CURDIR)/docs/screenshots go test -count=1 -run 'TestDashboard$$|TestDashboardNarrowWindowAndKeyboard' ./internal/ui/

## gen: regenerate the goctl API and model code; it must leave no diff.
gen: goctl
	$(GOCTL) api go -api api/jobs.api -dir . -home api/goctl -style gozero
	$(GOCTL) model mysql ddl -src model/schema.sql -dir model -ignore-columns updated_at -style gozero
	gofmt -w internal/handler internal/types model

goctl:
	@GOCTL_VERSION=$(GOCTL_VERSION) ./deploy/install-goctl.sh >/dev/null

services:
	@./deploy/services.sh

lint:
	gofmt -l . | (! grep .)
	go vet ./...
