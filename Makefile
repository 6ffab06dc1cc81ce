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
