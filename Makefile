# Herald: the two commands a newcomer needs are `make run` and `make test`.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
APT_PACKAGES := postgresql libpq-dev acl
PORT ?= 8080

.PHONY: run test build release deps clean

## Build and start Herald on its embedded PostgreSQL at http://127.0.0.1:$(PORT).
run: deps build
	.build/debug/herald serve --port $(PORT)

## Install what is missing, then build and run the whole test suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## Debug build of every product.
build:
	$(SWIFT) build

## Optimized build (what the benchmarks use).
release:
	$(SWIFT) build -c release

## Install PostgreSQL, libpq and acl with apt-get when they are missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf .build
