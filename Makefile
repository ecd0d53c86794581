# Entry points an operator types. Each target first runs scripts/bootstrap.sh,
# which installs only what is missing, so every target works on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

bootstrap: ## install what the collection needs (Debian packages, Docker engine, .venv, tools, base image)
	@scripts/bootstrap.sh

deploy: bootstrap ## create the local sandbox and run `ansible-playbook deploy.yml` against it
	@scripts/deploy.sh

test: bootstrap ## run every test: lint, sanity, unit, integration, Molecule, end-to-end
	@scripts/test.sh

sandbox: bootstrap ## create (or converge) the local sandbox only
	@scripts/with-env.sh ansible-playbook playbooks/sandbox_create.yml

sandbox-destroy: ## remove the local sandbox's containers and network
	@scripts/with-env.sh ansible-playbook playbooks/sandbox_destroy.yml

build: bootstrap ## build the collection artifact (x402-runbook-<version>.tar.gz)
	@scripts/with-env.sh ansible-galaxy collection build --force

.PHONY: help bootstrap deploy test sandbox sandbox-destroy build
