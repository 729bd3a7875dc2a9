# Herald: the two commands a newcomer needs are `make run` and `make test`.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
APT_PACKAGES := postgresql libpq-dev acl nginx python3-yaml curl python3 python3-pip chromium chromium-driver
BENCH_APT_PACKAGES := nginx libnginx-mod-nchan wrk
PORT ?= 8080

.PHONY: run test build release bench deps bench-deps clean

## Build and start Herald on its embedded PostgreSQL at http://127.0.0.1:$(PORT).
run: deps build
	.build/debug/herald serve --port $(PORT)

## Install what is missing, then build and run the whole test suite: everything in
## parallel, then the timed and heavy tests (IsolatedTests) one at a time, then the
## container files' checks (docker/check.sh: no Docker engine needed), then schemathesis
## against docs/openapi.yaml on a live server (Tests/fuzz/run.sh, about 2 minutes), then
## the browser library and the demo page in headless Chromium (Tests/browser/run.sh, about
## 2 minutes). At most TEST_WIDTH tests run at once: unbounded, the ~180 of them opened
## ~600 connections to the shared test cluster on two cores, whose connects and commits
## then stalled past libpq's 10 s connect_timeout and the 5 s --publish-timeout.
TEST_WIDTH ?= 16
test: deps
	$(SWIFT) build --build-tests
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(TEST_WIDTH) $(SWIFT) test --skip-build --skip IsolatedTests
	$(SWIFT) test --skip-build --filter IsolatedTests
	docker/check.sh
	Tests/fuzz/run.sh
	Tests/browser/run.sh

## Debug build of every product.
build:
	$(SWIFT) build

## Optimized build (what the benchmarks use).
release:
	$(SWIFT) build -c release

## Herald beside pgbench, an empty Hummingbird handler and Nchan, in one run
## (docs/performance.md).
## SCENARIOS="publish fanout" runs some of them.
bench: bench-deps release
	bench/compare.sh $(SCENARIOS)

## Install PostgreSQL, libpq, acl, and what docker/check.sh, Tests/fuzz and Tests/browser
## run (nginx, PyYAML, curl, Python with pip, Chromium and chromedriver) with apt-get when
## they are missing.
deps:
	@$(call apt_install,$(APT_PACKAGES))

## The same, plus Nginx with Nchan, the fan-out reference of the benchmarks, and wrk, the
## publish scenario's second client.
bench-deps:
	@$(call apt_install,$(APT_PACKAGES) $(BENCH_APT_PACKAGES))

define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
	echo "installing:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
fi
endef

clean:
	rm -rf .build
