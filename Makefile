# Two commands for a newcomer: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
export PYTHONPATH := $(CURDIR)

.PHONY: run test install translations bench screenshots

$(BIN)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

translations: install
	$(BIN)/pybabel compile -q -d translations

# venv + install, migrate, demo content and users (credentials printed), serve on http://127.0.0.1:5000
run: install translations
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# The whole suite on SQLite; again on PostgreSQL when TEST_DATABASE_URL is set (.ci/run sets it).
test: install translations
	$(BIN)/python -m pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL run: $$TEST_DATABASE_URL =="; \
		SOP_TEST_DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python -m pytest -m "not browser"; \
	else \
		echo "PostgreSQL: not tested (TEST_DATABASE_URL is not set; .ci/run sets it when a server answers on 127.0.0.1:5432)"; \
	fi

bench: install translations
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/sync.py
