SHELL := /bin/bash
# SymTUI — `make demo` to try it, `make test` to check it.
SWIFT ?= swift
DEB_PACKAGES = libncurses-dev libsqlite3-dev sqlite3 tmux python3 sudo passwd util-linux
BIN_DEBUG = .build/debug/symtui
BIN_RELEASE = .build/release/symtui

.PHONY: all deps build release test unit e2e demo screenshots bench clean

all: build

# Install the Debian packages the build and the tests need, only when one is missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	    { echo "make: could not install$$missing (run as root?)"; exit 1; }; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Unit tests (model, store, engine, console render) then end-to-end tests with real users and tmux.
test: deps build
	$(SWIFT) test 2>&1 | tee .build/unit-tests.log | grep -vE '^\[[0-9]+/[0-9]+\]|^Test Case .* (started|passed)' ; \
	  test $${PIPESTATUS[0]} -eq 0
	SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/e2e/run.py

unit: deps
	$(SWIFT) test

e2e: build
	SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/e2e/run.py $(ARGS)

demo: release
	$(BIN_RELEASE) demo

clean:
	rm -rf .build

# The Python handler SDK's own tests (standard library unittest); part of `make test`.
.PHONY: sdk-test
test: sdk-test
sdk-test:
	PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s sdk/python/tests
