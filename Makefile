# ferry's two commands are `make run` and `make test`; everything they need is
# installed by the targets below into the project (node_modules, .venv, .cache),
# never globally (Maven and Go use their usual caches).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
PYTHON    ?= python3
BUF       := node_modules/.bin/buf
VENV      := .venv
VPY       := $(VENV)/bin/python
CACHE     := .cache
GRPCURL   := $(CACHE)/bin/grpcurl
GRPCURL_VERSION := v1.9.3
PROTOS    := $(sort $(wildcard proto/ferry/v1/*.proto))
ARGS      ?=
KAFKA     ?=
BENCH_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(BUF) $(VENV)/.installed $(GRPCURL) ## install buf, the Python venv and grpcurl into the project
	$(GO) mod download

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: clients/python/requirements-dev.txt clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r clients/python/requirements-dev.txt -e clients/python
	touch $@

$(GRPCURL):
	GOBIN=$(abspath $(CACHE)/bin) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

.PHONY: grpcurl
grpcurl: $(GRPCURL) ## install grpcurl (pinned) as .cache/bin/grpcurl, for the README's grpcurl session

.PHONY: build
build: ## build bin/ferry (bin/ferry --version prints git describe)
	$(GO) build -ldflags "-X main.buildVersion=$$(git describe --tags --always --dirty 2>/dev/null || echo devel)" -o bin/ferry ./cmd/ferry

.PHONY: run
run: build ## start ferry on 127.0.0.1:50051 with an embedded broker; KAFKA=host:port for a real cluster
	bin/ferry serve $(if $(KAFKA),--kafka $(KAFKA)) $(ARGS)

.PHONY: generate
generate: $(BUF) $(VENV)/.installed ## regenerate gen/ (Go) and clients/python/src/ferry/v1 (Python) from proto/
	rm -rf gen
	$(BUF) generate
	rm -f clients/python/src/ferry/v1/*_pb2*.py clients/python/src/ferry/v1/*_pb2*.pyi
	$(VPY) -m grpc_tools.protoc -Iproto --python_out=clients/python/src --pyi_out=clients/python/src \
		--grpc_python_out=clients/python/src $(PROTOS)

.PHONY: check-generate
check-generate: generate ## fail when the committed generated code differs from `make generate`
	@if [ -n "$$(git status --porcelain -- gen clients/python/src/ferry/v1)" ]; then \
		git status --short -- gen clients/python/src/ferry/v1; \
		echo "generated code is stale: run 'make generate' and commit"; exit 1; fi
	@echo "generated code is up to date"

.PHONY: lint
lint: $(BUF) $(VENV)/.installed ## buf lint (STANDARD), go vet, gofmt, mypy --strict on the Python facade, go mod tidy -diff
	$(BUF) lint
	$(GO) vet ./...
	$(VENV)/bin/mypy --strict --config-file clients/python/pyproject.toml clients/python/src/ferry
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) mod tidy -diff

.PHONY: breaking
breaking: $(BUF) ## buf breaking against main
	$(BUF) breaking --against '.git#branch=main'

.PHONY: test
test: tools build ## start a real Kafka broker, run the Go, Python and Java tests, stop the broker
	test/kafka/with-kafka.sh test/run-tests.sh

.PHONY: bench
bench: build $(VENV)/.installed ## read and write throughput on a real broker, ratios to direct franz-go: reads from Go (1 and 3 readers), Python, Java; writes AT_LEAST_ONCE from Go, Python, Java and EXACTLY_ONCE from Go (vs franz-go txn); Python and Java through the generated stubs and through the Flink-style facades (-facade), each measured after 2 warm-up runs in its process (-client-warmups; the first run is reported too); CPU-seconds per GB of ferry, client and broker and the one-core-per-stage ratio; barrier latency, ferry RSS; BENCH_ARGS="-n 50000" for a quick run, BENCH_ARGS="-pprof-dir DIR" for Go CPU profiles of ferry and of the Go client
	mvn -q -B -f clients/java -pl bench -am -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
	test/kafka/with-kafka.sh $(GO) run ./test/bench -repeat 3 \
		-client "python=$(VPY) test/bench/client_read.py" \
		-client "python-facade=$(VPY) test/bench/facade_read.py" \
		-client "java=java -cp clients/java/bench/target/classes:$$(cat clients/java/bench/target/classpath.txt) dev.ferry.bench.ReadBench" \
		-client "java-facade=java -cp clients/java/bench/target/classes:$$(cat clients/java/bench/target/classpath.txt) dev.ferry.bench.FacadeReadBench" \
		-write-client "python=$(VPY) test/bench/client_write.py" \
		-write-client "python-facade=$(VPY) test/bench/facade_write.py" \
		-write-client "java=java -cp clients/java/bench/target/classes:$$(cat clients/java/bench/target/classpath.txt) dev.ferry.bench.WriteBench" \
		-write-client "java-facade=java -cp clients/java/bench/target/classes:$$(cat clients/java/bench/target/classpath.txt) dev.ferry.bench.FacadeWriteBench" \
		$(BENCH_ARGS)

.PHONY: chaos
chaos: build ## exactly-once under fire, long: 1,000,000 records, ferry SIGKILLed 20 times, Kafka restarted twice, output checked with read_committed; then 60 s of random and mutated messages to both RPCs (no panic, no INTERNAL, still SERVING)
	test/kafka/with-kafka.sh $(GO) test -count=1 -v -timeout 60m -run 'TestChaos|TestGRPCFuzz' ./test/chaos -args -records 1000000 -kills 20 -broker-restarts 2 -grpc-fuzz 60s

FUZZTIME ?= 2m
.PHONY: fuzz
fuzz: ## run each Go fuzz target (spec conversion, sink batches, the record encoder) for FUZZTIME (default 2m); `make test` runs their seed corpus
	for f in FuzzSourceSpec FuzzSinkSpec FuzzSinkBatch FuzzRecordsMessage; do \
		$(GO) test ./server -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) || exit 1; done

.PHONY: test-unit
test-unit: ## the Go unit tests that need no broker
	$(GO) test -race $$($(GO) list ./... | grep -v -e /test/integration -e /test/chaos)

.PHONY: clean
clean: ## remove build outputs (keeps the jar and tool caches)
	rm -rf bin clients/java/*/target
