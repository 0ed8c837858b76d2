# Every target is one line; scripts/uv installs the pinned uv into .tools/ on first use.
UV := ./scripts/uv
.PHONY: up down test test-repeat chaos-soak check fmt bench bench-webhooks bench-compare

up:    ; @$(UV) run --locked python -m devstack up
down:  ; @$(UV) run --locked python -m devstack down
test:  ; @scripts/ensure-chromium && $(UV) run --locked pytest
test-repeat: ; @scripts/test-repeat $(or $(N),10) $(ARGS)
chaos-soak: ; @$(UV) run --locked python -m tests.chaos.soak $(ARGS)
check: ; @$(UV) run --locked ruff format --check . && $(UV) run --locked ruff check . && $(UV) run --locked mypy
fmt:   ; @$(UV) run --locked ruff format . && $(UV) run --locked ruff check --fix .
bench: ; @$(UV) run --locked --group bench python bench/load.py
bench-webhooks: ; @$(UV) run --locked --group bench python bench/webhooks.py
bench-compare: ; @$(UV) run --locked --group bench python bench/compare.py $(ARGS)
