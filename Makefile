# spindiff: two commands on a fresh Debian 12 machine
#   make demo   set up (apt + venv + pip) and run the default case
#   make test   set up and run the whole test suite (lint, serial, under mpirun -n 2)
#   make test-quick      the fast loop: lint and every test not marked slow (about 2 minutes)
#   make test-stack SUITE=trixie|sid   the suite in a Debian 13 / unstable chroot (scripts/stack.sh);
#                        make test-debian13 and make test-sid are the same; STACK_TESTS=quick|full
#   make compare-stacks  the comparison cases on the host and in each chroot, compared
# Set-up is idempotent: a second run checks stamps and skips in a second.

SHELL      := /bin/bash
VENV       := .venv
PY         := $(VENV)/bin/python
SETUP      := .setup
CASE       ?= cases/default.toml
OUT        ?= results/default
NP         ?= 2
# pytest worker processes for the serial suite (pytest-xdist; one test per core at a time)
TEST_JOBS  ?= 2
# yield_when_idle: oversubscribed ranks sleep instead of busy-waiting (OpenMPI 4 and 5)
MPIRUN     := mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -n $(NP)

APT_PACKAGES := python3-dolfinx-real python3-dolfinx-mpc python3-gmsh python3-meshio \
                python3-scipy python3-matplotlib python3-h5py python3-pandas python3-venv python3-pip \
                openmpi-bin libopenmpi-dev g++ pkg-config

.PHONY: setup demo test test-quick lint test-serial test-mpi test-stack test-debian13 test-sid \
        compare-stacks print-apt-packages bench clean

setup: $(SETUP)/pip.stamp

$(SETUP)/apt.stamp:
	@mkdir -p $(SETUP)
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	    echo "apt packages present"; \
	else \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

$(SETUP)/venv.stamp: $(SETUP)/apt.stamp
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	@touch $@

$(SETUP)/pip.stamp: $(SETUP)/venv.stamp pyproject.toml
	@/usr/bin/python3 -c "import numpy; print('numpy==' + numpy.__version__)" > $(SETUP)/constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check -c $(SETUP)/constraints.txt -e ".[test]"
	@$(PY) -c "import dolfinx, dolfinx_mpc, gmsh, h5py, numpy; \
	    want = open('$(SETUP)/constraints.txt').read().split('==')[1].strip(); \
	    assert numpy.__version__ == want, f'venv numpy {numpy.__version__} != system numpy {want}'"
	@# the one-process mesh builder (compiled once into ~/.cache/spindiff; create_mesh without it)
	@$(PY) -c "from spindiff.mesh.serial_build import unavailable_reason as r; \
	    print('serial mesh builder:', r() or 'compiled')"
	@touch $@

# --overwrite: a second `make demo` replaces the results folder the first one made (and only
# such a folder: anything else at $(OUT) is refused)
demo: setup
	$(MPIRUN) $(VENV)/bin/spindiff run $(CASE) --out $(OUT) --overwrite

test: setup lint test-serial test-mpi

test-quick: setup lint
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) -m "not slow" tests

lint: setup
	$(PY) -m ruff check spindiff tests benchmarks scripts examples docs/scripts

test-serial: setup
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) tests

test-mpi: setup
	$(MPIRUN) $(PY) -m pytest -q -p no:cacheprovider -m mpi tests

# The suite again on another Debian release in a debootstrap'ed chroot, built once outside the
# clone (/var/cache/spindiff-SUITE): trixie = Debian 13 (DOLFINx 0.9), sid = Debian unstable
# (DOLFINx 0.11, conda-forge's release). STACK_TESTS=full runs `make test` there, quick runs
# `make test-quick test-mpi`. Where the machine cannot host a chroot, or the suite's packages
# cannot be installed today, one line says so and the target succeeds.
SUITE       ?= trixie
STACK_TESTS ?= full
STACKS_OUT  ?= results/stacks
test-stack: setup
	SPINDIFF_STACK_TESTS=$(STACK_TESTS) scripts/stack.sh $(SUITE) test

test-debian13:
	@$(MAKE) --no-print-directory test-stack SUITE=trixie

test-sid:
	@$(MAKE) --no-print-directory test-stack SUITE=sid

# The comparison cases (scripts/stack.sh: the default case, the Takeda cube, a shortened
# periodic box with six centres) on the host and in each chroot that can be built, then
# compared pairwise; fails beyond scripts/compare_stacks.py's tolerance.
compare-stacks: setup
	rm -rf $(STACKS_OUT)
	scripts/stack.sh host cases $(STACKS_OUT)
	scripts/stack.sh trixie cases $(STACKS_OUT)
	scripts/stack.sh sid cases $(STACKS_OUT)
	$(PY) scripts/compare_stacks.py $(STACKS_OUT)

print-apt-packages:
	@echo $(APT_PACKAGES)

bench: setup
	$(PY) benchmarks/bench_solver.py

clean:
	rm -rf $(VENV) $(SETUP) results
