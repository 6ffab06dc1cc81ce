# The book's two commands, each doing its own set-up in a virtual environment (.venv):
#   make book   install, then execute every notebook in order, in place, and print a summary
#   make test   install, then lint and run the whole test suite (unit tests and nbval)
# Other targets: make lab (open the book in JupyterLab), make clean (remove .venv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# make test runs test files on this many processes at once (pytest-xdist); each file, and so each
# notebook's cells, stays on one. 0 runs everything in one process.
TEST_WORKERS ?= 2

# NumPy and OpenBLAS choose some kernels by the CPU (AVX-512 or AVX2), and the two round float64
# results differently in the last bits. On a CPU with AVX2, make book, make test and make lab pin
# the AVX2 ones, so that an AVX-512 machine computes what an AVX2-only one does (README, "The same
# numbers on your CPU"). A value already in the environment wins.
ifneq ($(shell grep -qsw avx2 /proc/cpuinfo && echo yes),)
export OPENBLAS_CORETYPE ?= Haswell
export NPY_DISABLE_CPU_FEATURES ?= X86_V4 AVX512_ICL AVX512_SPR
endif

.PHONY: book test lab install clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# Build matplotlib's font cache now, so that no notebook ever shows the message.
	MPLBACKEND=Agg $(PY) -c "import matplotlib.pyplot"
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(PY) -m recsys_helpers.book $(CHAPTERS)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	env -u JPY_SESSION_NAME RECSYS_PROGRESS=off $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope \
		--durations=20 --nbval --nbval-current-env tests notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/01_concepts.ipynb

clean:
	rm -rf $(VENV)
