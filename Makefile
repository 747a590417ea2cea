# Two commands for a newcomer: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py
export PYTHONPATH := $(CURDIR)

.PHONY: run test install translations messages bench

$(BIN)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

translations: install
	$(BIN)/pybabel compile -d translations --statistics 2>&1 | tail -1

# The app refuses the public development key outside debug and tests: the first run writes a random one.
instance/secret_key: | install
	@mkdir -p instance
	@umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > $@.tmp && mv $@.tmp $@
	@echo "wrote a random SECRET_KEY to $@ (keep it: a new key logs everyone out)"

# venv + install, a secret key, migrate, demo content and users (credentials printed), gzip the static files
# (instance/static/; the server would do it on first request anyway), serve on http://127.0.0.1:5000
run: install translations instance/secret_key
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask assets compress
	$(BIN)/flask run --host 127.0.0.1 --port 5000

# The whole suite on SQLite; again on PostgreSQL when TEST_DATABASE_URL is set (.ci/run sets it). Each run ends
# with its 15 slowest steps (bench/README.md, "Test suite time").
test: install translations
	@mkdir -p instance
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== SQLite and PostgreSQL ($$TEST_DATABASE_URL) side by side, one core each; PostgreSQL's output follows =="; \
		SOP_TEST_DATABASE_URL="$$TEST_DATABASE_URL" $(BIN)/python -m pytest -m "not browser" --durations=15 > instance/pytest-postgresql.log 2>&1 & pg=$$!; \
		$(BIN)/python -m pytest --durations=15; sqlite=$$?; \
		wait $$pg; postgresql=$$?; \
		echo "== PostgreSQL run: $$TEST_DATABASE_URL =="; cat instance/pytest-postgresql.log; \
		[ $$sqlite -eq 0 ] && [ $$postgresql -eq 0 ]; \
	else \
		$(BIN)/python -m pytest --durations=15; rc=$$?; \
		echo "PostgreSQL: not tested (TEST_DATABASE_URL is not set; .ci/run sets it when a server answers on 127.0.0.1:5432)"; \
		exit $$rc; \
	fi

bench: install translations
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/sync.py

# After changing UI text: extract the English msgids and merge them into the Chinese catalog.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k AccountError -k SignError -k RunError -k RosterError -k N_ -k WordImportError -k AuthoringError -k DraftConflict -o translations/messages.pot app templates
	$(BIN)/pybabel update -i translations/messages.pot -d translations -l zh --no-fuzzy-matching
