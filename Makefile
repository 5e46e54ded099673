SHELL := /bin/bash
# The two commands a newcomer runs (README.md): `make demo` and `make test`.
# Everything is built in release: numeric Swift is 10–50× slower unoptimised, and the engine's
# tests run full networks. -enable-testing lets the same build serve `swift test`.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN = $(shell swift build $(SWIFT_FLAGS) --show-bin-path)/mambanode
# DCMTK stalls ~45 ms per C-STORE on loopback without it (docs/platform-notes.md, Environment facts).
export TCP_NODELAY := 1

.PHONY: bootstrap build test test-unit test-integration lint demo clean

bootstrap:
	@Scripts/bootstrap

build: bootstrap
	swift build $(SWIFT_FLAGS)

# One build serves both: the tests are built with the same flags, then run without rebuilding.
# Then the conformance harness: the node against Orthanc as a site would run it (docs/conformance.md).
# The reference pipeline of the official code (Tools/reference), which the layout tests compare
# against, checks itself first.
test: bootstrap
	swift build $(SWIFT_FLAGS) --build-tests
	.venv/bin/python -m pytest -q -p no:cacheprovider Tools/reference; reference=$$?; \
	swift test $(SWIFT_FLAGS) --skip-build --disable-xctest --no-parallel 2>&1 | tee .build/test.log; \
	  unit=$${PIPESTATUS[0]}; Conformance/run "$(BIN)"; conformance=$$?; \
	  exit $$(( reference != 0 || unit != 0 || conformance != 0 ))

# The suites that drive the node as a child process or wait on external peers (TLS handshakes,
# Python read-back, the built binary): `make test` runs them; `make test-unit` leaves them out so
# the edit-build-test loop stays under a minute after the build; `make test-integration` runs only them.
INTEGRATION_SUITES := NodePipelineTests|ClusterTests|PostgreSQLNodeStoreTests|ResultViewsTests|NodeServeTests|NodeSecurityTests|StorageServerTLSTests|StorageClientTLSTests|ResultEncoderTests|SegmentationWriterTests|EncodeCommandTests|InferenceCommandTests

test-unit: bootstrap
	swift build $(SWIFT_FLAGS) --build-tests
	swift test $(SWIFT_FLAGS) --skip-build --disable-xctest --no-parallel --skip "$(INTEGRATION_SUITES)"

test-integration: bootstrap
	swift build $(SWIFT_FLAGS) --build-tests
	swift test $(SWIFT_FLAGS) --skip-build --disable-xctest --no-parallel --filter "$(INTEGRATION_SUITES)"

# Formatting (swift-format, clang-format, ruff) and the module dependency rules; not part of
# `make test`. Scripts/lint says how to apply the formatting.
lint: bootstrap
	Scripts/lint

demo: build
	Scripts/demo "$(BIN)"

clean:
	rm -rf .build var
