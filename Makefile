# Portico. `make run` builds everything and starts the server with
# config.yaml; `make test` runs every test.
GO ?= go
BIN := bin
PLUGINS := telnet irc websocket ssh discord
CONFIG ?= config.yaml

.PHONY: all build run test test-short vet proto fmt clean bench bench-full example tiny-game

all: build

build:
	$(GO) build -o $(BIN)/portico ./cmd/host
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/portico-$$p ./plugins/$$p"; \
		$(GO) build -o $(BIN)/portico-$$p ./plugins/$$p || exit 1; \
	done

run: build
	$(BIN)/portico start --config $(CONFIG)

# Every test, through cmd/testreport: the plain go test output, then a
# summary of every skipped test with its reason (and of failed ones). Each
# go test run below goes ahead even if one before failed; the status is the
# first failure's. The race detector covers everything but bench/, whose
# tests measure timings: core/, sdk/, the plugins, the example plugin and
# cmd/. cmd/ holds the end-to-end tests, whose test process drives the real
# binaries (built without -race); measured on a loaded 2-core machine, -race
# there cost no more wall time than the noise between runs, so it stays on.
# The packages that start goroutines fail when a test leaves one running
# (sdk/leakcheck, go.uber.org/goleak).
test:
	$(GO) run ./cmd/testreport -go "$(GO)" -- \
		"-race -timeout 15m ./core/... ./sdk/... ./plugins/... ./cmd/..." \
		"-timeout 10m ./bench/..." \
		"-timeout 5m -run Allocations ./plugins/telnet/" \
		"-C examples/echo-protocol -race -timeout 5m ./..." \
		"-C examples/tiny-game -race -timeout 10m ./..."

test-short:
	$(GO) test -short ./...
	cd examples/echo-protocol && $(GO) test -short ./...
	cd examples/tiny-game && $(GO) test -short ./...

# Portico against a bare TCP line server, as ratios (see BENCHMARKS.md).
# bench is the short run (under two minutes); bench-full the recorded one.
bench:
	$(GO) run ./bench -short

bench-full:
	$(GO) run ./bench

# The out-of-tree example plugin (its own module, see
# examples/echo-protocol/README.md), built as its author would build it.
# Enable it with plugins.echo.path: bin/portico-echo in config.yaml.
example:
	cd examples/echo-protocol && $(GO) build -o ../../$(BIN)/portico-echo .

# The example game (its own module, see examples/tiny-game/README.md):
# bin/tiny-game with the telnet and websocket plugins beside it, started
# with its config (telnet on :4000, the webclient on :4002).
tiny-game:
	cd examples/tiny-game && $(GO) build -o ../../$(BIN)/tiny-game .
	$(GO) build -o $(BIN)/portico-telnet ./plugins/telnet
	$(GO) build -o $(BIN)/portico-websocket ./plugins/websocket
	$(BIN)/tiny-game start --config examples/tiny-game/config.yaml

vet:
	$(GO) vet ./...

# Regenerate the contract's Go code (needs protoc, protoc-gen-go v1.36.12,
# protoc-gen-go-grpc v1.6.2). The output is committed.
proto:
	cd sdk/portalpb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative portal.proto

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
