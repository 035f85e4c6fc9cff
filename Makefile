# changeover — the two commands a fresh machine needs are `make demo` and `make test`.
SWIFT ?= swift
APT_PACKAGES := postgresql-15 postgresql-client-15 libpq-dev pkg-config libhiredis-dev libsqlite3-dev redis-server pgbouncer haproxy util-linux python3 openssh-server openssh-client chromium chromium-driver binutils

.PHONY: deps lint build install uninstall test demo bench faults-table clean docker-deps docker-engine docker-images docker-test docker-clean

# Installs what a fresh Debian 12 machine lacks; a second run installs nothing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi; \
	command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain needed)"; exit 1; }

# Where `make install` puts bin/changeover, and how it builds it (CONFIGURATION=debug builds faster).
PREFIX ?= /usr/local
CONFIGURATION ?= release

# `changeover --version` names the commit it was built from: SwiftPM cannot hand a build a value,
# so this writes it to a Swift file (ignored by git) for the length of the build only, and a
# later plain `swift build` says "unknown commit" rather than an old one. A tree with changes
# not committed is stamped COMMIT-modified.
STAMP := Sources/ChangeoverCLI/BuildStamp+Commit.swift
define stamped_build
	@set -e; trap 'rm -f $(STAMP)' EXIT INT TERM; \
	commit=$$(git rev-parse HEAD 2>/dev/null || true); \
	if [ -n "$$commit" ]; then \
	  if [ -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$$commit-modified"; fi; \
	  printf '// Written by make for the length of a build (see BuildStamp.swift).\nextension BuildStamp {\n    static var commit: String? { "%s" }\n}\n' "$$commit" > $(STAMP); \
	fi; \
	echo "$(SWIFT) build $(1)"; $(SWIFT) build $(1)
endef

build: deps
	$(call stamped_build,)

# The toolchain's formatter, with the rules of .swift-format; any warning fails. `swift format
# format -i -r Sources Tests Package.swift` mends most of what it finds.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

# The `changeover` binary into $(DESTDIR)$(PREFIX)/bin.
install: deps
	$(call stamped_build,-c $(CONFIGURATION) --product changeover)
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$$($(SWIFT) build -c $(CONFIGURATION) --show-bin-path)/changeover" "$(DESTDIR)$(PREFIX)/bin/changeover"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/changeover"

# The unit tests first, on their own: their property and hostile-input cases keep both threads of
# the 2-thread cooperative pool busy for a minute, which would starve the servers' start-up waits
# of the integration tests if both ran in one process at once. The browser test runs last, on its
# own: headless Chromium takes a core, which starves the servers' tests beside it.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter 'ChangeoverCoreTests|ConnInfoPropertyTests'
	$(SWIFT) test --skip-build --skip 'ChangeoverCoreTests|ConnInfoPropertyTests|StatusPageBrowserTests'
	$(SWIFT) test --skip-build --filter StatusPageBrowserTests

# The rehearsal is its own program, `changeover-demo`: it links the lab's throwaway servers, which
# the installed `changeover` does not.
demo: deps
	$(SWIFT) build --product changeover-demo
	$$($(SWIFT) build --show-bin-path)/changeover-demo

# BENCH_ARGS: changeovers per row, --only ROW,…, --json FILE, --daemon-databases N (see Sources/ChangeoverBench).
BENCH_ARGS ?= 5 --json .build/bench.json
# The daemon-memory rows run the release `changeover` beside the bench, so both are built.
bench: deps
	$(SWIFT) build -c release --product changeover-bench
	$(SWIFT) build -c release --product changeover
	$$($(SWIFT) build -c release --show-bin-path)/changeover-bench $(BENCH_ARGS)

# Kills the controller at every step boundary, resumes, and writes the table of docs/faults.md.
faults-table: deps
	$(SWIFT) build --build-tests
	rm -f .build/faults.md
	CHANGEOVER_FAULTS_TABLE=$(CURDIR)/.build/faults.md $(SWIFT) test --skip-build --filter ResumeTests
	@./.ci/splice-faults docs/faults.md .build/faults.md

clean:
	rm -rf .build

# --- Dockerized databases (issue 8). None of these run from `make test`. ---
# A Docker engine started by hand (docker/engine.sh) and images built locally from Debian's
# packages (docker/build-images.sh): no registry is needed. See docker/README.md.
# docker.io only where no dockerd is installed (it would replace an installed docker-ce).
docker-deps:
	@missing=""; \
	command -v dockerd >/dev/null || missing=" docker.io"; \
	dpkg-query -W -f='$${Status}' debootstrap 2>/dev/null | grep -q "install ok installed" || missing="$$missing debootstrap"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Starts changeover's own dockerd unless one already answers on its socket; prints DOCKER_HOST.
docker-engine: docker-deps
	@docker/engine.sh start

# Both variants (old libc6, patched libc6) of the Postgres and Redis images. Builds in the engine
# that DOCKER_HOST names if it is set, else in changeover's own (started if need be).
docker-images: docker-deps
	@if [ -z "$$DOCKER_HOST" ]; then eval "$$(docker/engine.sh start)"; fi; docker/build-images.sh

# The docker provisioner's changeover tests (Tests/ChangeoverDockerTests; `make test` skips them).
# Uses the engine DOCKER_HOST names, else changeover's own, started if none answers and stopped
# again afterwards; builds the images (seconds when cached); afterwards removes every container and
# volume labelled with this run (org.changeover.test=RUN), whatever the tests left.
docker-test: deps docker-deps
	@set -e; \
	started=""; \
	if [ -z "$$DOCKER_HOST" ]; then \
	  docker/engine.sh status >/dev/null 2>&1 || started=1; \
	  eval "$$(docker/engine.sh start)"; \
	fi; \
	export DOCKER_HOST; \
	run="docker-test-$$(date +%Y%m%d-%H%M%S)-$$$$"; \
	sweep() { \
	  c=$$(docker ps -aq --filter "label=org.changeover.test=$$run"); \
	  [ -z "$$c" ] || { echo "removing containers left by $$run: $$c"; docker rm -f $$c >/dev/null; }; \
	  v=$$(docker volume ls -q --filter "label=org.changeover.test=$$run"); \
	  [ -z "$$v" ] || { echo "removing volumes left by $$run: $$v"; docker volume rm $$v >/dev/null; }; \
	  if [ -n "$$started" ]; then docker/engine.sh stop; fi; \
	}; \
	trap sweep EXIT; \
	docker/build-images.sh; \
	$(SWIFT) build --build-tests; \
	CHANGEOVER_DOCKER_HOST="$$DOCKER_HOST" CHANGEOVER_DOCKER_TEST_RUN="$$run" \
	  $(SWIFT) test --skip-build --filter ChangeoverDockerTests

# Stops the dockerd that docker/engine.sh started and removes its root (images, volumes, cache).
docker-clean:
	@docker/engine.sh clean
