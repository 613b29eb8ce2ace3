# spindiff: two commands on a fresh Debian 12 machine
#   make demo   set up (apt + venv + pip) and run the default case
#   make test   set up and run the whole test suite, serial and under mpirun -n 2
# Set-up is idempotent: a second run checks stamps and skips in a second.

SHELL      := /bin/bash
VENV       := .venv
PY         := $(VENV)/bin/python
SETUP      := .setup
CASE       ?= cases/default.toml
OUT        ?= results/default
NP         ?= 2
MPIRUN     := mpirun --allow-run-as-root --oversubscribe -n $(NP)

APT_PACKAGES := python3-dolfinx-real python3-dolfinx-mpc python3-gmsh python3-meshio \
                python3-scipy python3-matplotlib python3-h5py python3-venv python3-pip \
                openmpi-bin libopenmpi-dev

.PHONY: setup demo test test-serial test-mpi bench clean

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
	@$(PY) -c "import dolfinx, dolfinx_mpc, gmsh, h5py, numpy; assert int(numpy.__version__.split('.')[0]) < 2"
	@touch $@

demo: setup
	$(MPIRUN) $(VENV)/bin/spindiff run $(CASE) --out $(OUT)

test: setup test-serial test-mpi

test-serial: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

test-mpi: setup
	$(MPIRUN) $(PY) -m pytest -q -p no:cacheprovider -m mpi tests

bench: setup
	$(PY) benchmarks/bench_solver.py

clean:
	rm -rf $(VENV) $(SETUP) results
