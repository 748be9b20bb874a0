GOCTL_VERSION ?= v1.10.2
GOCTL := $(shell go env GOPATH)/bin/goctl
CONFIG ?= etc/jobs.yaml
BIN ?= bin/jobs

# local.env (git-ignored) holds the MariaDB user deploy/services.sh creates where root cannot
# log in over TCP without a password (README, "On a fresh machine"): the service reads
# JOBS_MYSQL_DSN, the tests and benchmarks TEST_MYSQL_DSN.
RUN_ENV = [ ! -f local.env ] || { . ./local.env; export JOBS_MYSQL_DSN; };
TEST_ENV = [ ! -f local.env ] || { . ./local.env; export TEST_MYSQL_DSN; };

.PHONY: all build run test test-short test-race test-fresh chaos fuzz bench bench-list bench-prune bench-bulk bench-backlog gen goctl vet fmt services lint screenshots

all: build

## build: the static binary deploy/Dockerfile builds too (deploy/build.sh), in $(BIN).
build:
	./deploy/build.sh $(BIN)

## run: build and start the service (API + workers) on the default config.
run: build services
	@$(RUN_ENV) exec $(BIN) -f $(CONFIG)

## test: every test, against the local MariaDB and Redis (started if not running), then the
## checks of deploy/ (their own Go module: Kubernetes, compose, Dockerfile, services.sh), then
## each fuzz target briefly. The pinned goctl lets a test check that the OpenAPI document is
## what make gen makes.
test: services goctl
	go vet ./...
	$(TEST_ENV) go test -race -count=1 -timeout 14m ./...
	cd deploy/check && go vet ./... && go test -count=1 -timeout 9m ./...
	@$(MAKE) --no-print-directory fuzz

# The packages whose tests boot no whole process (none imports internal/apptest): model,
# worker, queue and the rest, against the same local MariaDB and Redis.
SHORT_PKGS = $(shell go list -f '{{.ImportPath}}{{range .XTestImports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}' ./... | grep -v 'jobs/internal/apptest' | cut -d' ' -f1)

## test-short: the tests of the packages that boot no app, under a minute: the model's
## transitions, the worker under injected faults, the queue, config, parsing (make test runs
## them too, with the end-to-end tests of internal/app, the browser, the CLI and client).
test-short: services
	$(TEST_ENV) go test -race -count=1 -parallel 8 -timeout 2m $(SHORT_PKGS)

## test-fresh: make run's set-up on a freshly debootstrapped Debian, in a network namespace
## of its own (root; minutes: it downloads Debian and the packages).
test-fresh:
	./deploy/test-fresh-machine.sh

## chaos: the fault battery (README, "Chaos battery"): its own MariaDB (3316) and Redis (6386),
## never the local ones; a few minutes.
chaos: build
	go run ./cmd/chaos -bin bin/jobs

# Package and name of every fuzz target; go test -fuzz runs one target at a time.
FUZZ_TARGETS := ./internal/web:FuzzParseStartJob ./internal/jobview:FuzzParseListQuery \
	./internal/jobview:FuzzParseRunAt ./internal/functions/command:FuzzCommandTemplating ./internal/config:FuzzConfig
FUZZTIME ?= 3s

## fuzz: run each fuzz target for FUZZTIME (3s); a crasher is saved under the package's
## testdata/fuzz, where it stays as a regression case of the plain tests.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		out=$$(go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	done

## bench: throughput and latency numbers written up in docs/BENCHMARKS.md (a few minutes);
## pass flags with BENCHFLAGS, e.g. make bench BENCHFLAGS="-only latency".
bench: services
	$(TEST_ENV) go run ./cmd/jobsbench $(BENCHFLAGS)

## bench-prune: start latency while retention prunes a million finished jobs (drops and
## refills database jobs_prunebench); numbers in docs/BENCHMARKS.md, "Retention".
bench-prune: services
	$(TEST_ENV) go run ./cmd/listbench -prune

## bench-bulk: one bulk cancel of 10,000 running jobs, timed until every function has stopped
## (a test that runs only here); numbers in docs/BENCHMARKS.md, "Bulk cancel".
bench-bulk: services
	$(TEST_ENV) JOBS_BULK_BENCH=1 go test -count=1 -timeout 20m -v -run '^TestBulkCancelOfTenThousandRunningJobs$$' ./internal/app/

## bench-backlog: the recovery sweep over 100,000 jobs waiting on the stream past
## Recovery.StaleEnqueue, over 100,000 jobs never enqueued, and over 100,000 jobs after Redis
## lost its data (tests that run only here);
## numbers in docs/BENCHMARKS.md, "A stale backlog".
bench-backlog: services
	$(TEST_ENV) JOBS_BACKLOG_BENCH=1 go test -count=1 -timeout 10m -v -run '^TestASweep(OverAStaleBacklogOf100kJobs|EnqueuesAnUnmarkedBacklogOf100kJobs|AfterALostRedisOver100kJobs)$$' ./internal/recovery/

## bench-list: list latency over a million jobs (drops and refills database jobs_listbench);
## numbers in docs/BENCHMARKS-list.md.
bench-list: services
	$(TEST_ENV) go run ./cmd/listbench

## screenshots: the dashboard's pages as its browser tests see them, in docs/screenshots/
## (needs chromium).
screenshots: services
	mkdir -p docs/screenshots
	JOBS_SCREENSHOTS=$(CURDIR)/docs/screenshots go test -count=1 -run 'TestDashboard$$|TestDashboardNarrowWindowAndKeyboard' ./internal/ui/

## gen: regenerate the goctl API and model code and the OpenAPI document (goctl's swagger
## output completed by cmd/openapigen); it must leave no diff.
gen: goctl
	$(GOCTL) api go -api api/jobs.api -dir . -home api/goctl -style gozero
	$(GOCTL) model mysql ddl -src model/schema.sql -dir model -ignore-columns updated_at,phase -style gozero
	gofmt -w internal/handler internal/types model
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(GOCTL) api swagger --api api/jobs.api --dir "$$tmp" --filename jobs >/dev/null && \
		go run ./cmd/openapigen -swagger "$$tmp/jobs.json" -patch api/openapi.patch.json \
			-types internal/types/types.go -o internal/openapi/openapi.json

goctl:
	@GOCTL_VERSION=$(GOCTL_VERSION) ./deploy/install-goctl.sh >/dev/null

services:
	@./deploy/services.sh

lint:
	gofmt -l . | (! grep .)
	go vet ./...
