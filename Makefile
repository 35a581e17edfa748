# SymTUI — `make demo` to try it, `make test` to check it.
SHELL := /bin/bash
SWIFT ?= swift
# What the build and the tests need: C libraries, tmux (console tests), python3 (handlers), sudo (visudo),
# passwd (useradd, gpasswd), util-linux (setpriv), sqlite3 (tamper tests), libcurl (a static release build),
# libpq-dev (the postgres_role strategy), openssh-client (ssh-keygen for ssh_cert), and for the end-to-end tests of
# those two a real sshd (openssh-server) and PostgreSQL 15 (postgresql); for the operations tests promtool
# (prometheus), mandoc and man-db (man pages), and for `make deb` dpkg-dev, binutils (strip) and lintian; msmtp-mta is
# the /usr/sbin/sendmail that the email notification tests relay through to an SMTP server they run (aiosmtpd, from
# PyPI, installed by `make e2e`).
DEB_PACKAGES = libncurses-dev libsqlite3-dev sqlite3 tmux python3 sudo passwd util-linux libcurl4-openssl-dev \
	libpq-dev openssh-client openssh-server postgresql prometheus mandoc man-db dpkg-dev binutils lintian msmtp-mta
BIN_DEBUG = .build/debug/symtui
BIN_RELEASE = .build/release/symtui

.PHONY: all deps build release deb test unit sdk-test e2e reliability package-test chaos fuzz demo screenshots bench bench-scale docs clean

all: build

# Installs the Debian packages above, only those that are missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	    { echo "make: could not install$$missing (run as root?)"; exit 1; }; \
	fi

build: deps
	$(SWIFT) build

# Static Swift runtime and Foundation: one self-contained binary, and a console maps only the pages it uses.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product symtui

# The Debian package (.build/deb/symtui_VERSION_ARCH.deb): the static release binary, the systemd unit, man pages,
# completions and a starter config in /etc/symtui (scripts/deb.sh; maintainer scripts in contrib/debian/).
deb: release
	scripts/deb.sh $(BIN_RELEASE) .build/deb

# Everything: unit tests (model, store, engine, console snapshots), the Python SDK's tests, the
# end-to-end suite with real users, groups, daemons and tmux, a short reliability run, and the Debian
# package installed, smoke-tested and purged; then one closing line with the totals of every stage
# (each stage's full output is in .build/test-logs/).
LOGS = .build/test-logs
test: unit sdk-test e2e reliability package-test
	@scripts/test-summary.sh $(LOGS)

unit: deps
	@mkdir -p $(LOGS)
	@set -o pipefail; $(SWIFT) test --disable-swift-testing 2>&1 | tee $(LOGS)/unit.log \
	  | grep -vE '^(\[[0-9]+/[0-9]+\]|Test Case .*(started|passed)|Test Suite .*(started|passed))'

sdk-test: deps
	@mkdir -p $(LOGS)
	@set -o pipefail; PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s sdk/python/tests 2>&1 | tee $(LOGS)/sdk.log

e2e: build
	@mkdir -p $(LOGS)
	@python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check aiosmtpd
	@set -o pipefail; SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/e2e/run.py $(ARGS) 2>&1 | tee $(LOGS)/e2e.log

# The HCL fuzz target also replays the Sym Terraform fixtures the import tests use (not copied into its corpus).
HCL_SEEDS = Tests/Fixtures/sym-terraform/*.tf Tests/Fixtures/sym-terraform/okta-access-v2/*.tf Tests/Fixtures/sym-terraform/malformed

# Short reliability run (~5 min): 60 s of kill -9 chaos, races, a target down, the hostile-input corpus,
# and the fuzz targets replaying their seed corpora.
reliability: build
	@mkdir -p $(LOGS)
	@set -o pipefail; { \
	  SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/reliability/chaos.py --cycles 1000 --seconds 60 && \
	  SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/reliability/races.py && \
	  SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/reliability/targetdown.py && \
	  SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/reliability/hostile.py && \
	  for t in FuzzSafeText FuzzConfig FuzzFields FuzzEvents; do .build/debug/$$t Tests/Fixtures/fuzz/$$t || exit 1; done; \
	  .build/debug/FuzzHCL Tests/Fixtures/fuzz/FuzzHCL $(HCL_SEEDS) || exit 1; \
	} 2>&1 | tee $(LOGS)/reliability.log

# Builds the package, installs it on this machine, runs a smoke through the installed binary and unit, purges it.
package-test: release
	@mkdir -p $(LOGS)
	@set -o pipefail; deb=$$(scripts/deb.sh $(BIN_RELEASE) .build/deb) && Tests/package/deb.sh "$$deb" 2>&1 | tee $(LOGS)/package.log

# The full runs behind the figures in docs/RELIABILITY.md.
chaos: build
	SYMTUI_BIN=$(CURDIR)/$(BIN_DEBUG) python3 Tests/reliability/chaos.py --cycles 1000 --json .build/chaos.json --keep .build/chaos-evidence

fuzz: deps
	Tests/reliability/fuzz.sh 600

demo: release
	$(BIN_RELEASE) demo

screenshots: build
	scripts/screenshots.sh $(CURDIR)/$(BIN_DEBUG)

bench: deps
	scripts/bench.sh

# The figures of a 1,000,000-request, 10,000,000-event store (built once under .build/bench-data/, a few minutes),
# audit verify/export over a 10,000,000-event chain (its own fixture, kept likewise) and 100,000 grants expiring
# together; longer than `make bench`, written to their own section of docs/PERFORMANCE.md.
bench-scale: deps
	SYMTUI_BENCH_SECTION=scale-results scripts/bench.sh --only scale,audit-scale,expiry-burst --burst 100000

# Regenerates the CLI reference from the program's own help, and the man pages into .build/man/.
docs: build
	scripts/cli-doc.sh $(BIN_DEBUG) > docs/cli.md
	@mkdir -p .build/man
	$(BIN_DEBUG) help --man > .build/man/symtui.1
	python3 scripts/man-config.py docs/configuration.md > .build/man/symtui-config.5

clean:
	rm -rf .build
