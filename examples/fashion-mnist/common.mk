# What the experiment Makefile and generator.mk share: shell settings, the synthaug command, and the
# recipe helpers. Each includes this file after setting OUT, L (logs) and TIMES (the times.jsonl file).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
SYNTHAUG ?= $(abspath $(HERE)../../bin/synthaug)

comma := ,
# $(call step,NAME,COMMAND): run COMMAND, its output also kept in $(L) (appended: a resumed step keeps the
# log of its first part), and record its wall time in $(TIMES). A command writing a file writes FILE.tmp
# and renames it, so a target exists only when complete.
define step
@mkdir -p $(dir $@) $(L) $(dir $(TIMES))
@echo '>> $(1)' >&2
@start=$$(date +%s); \
  ( $(2) ) 2>&1 | tee -a $(L)/$(subst /,_,$(subst $(OUT)/,,$@)).log >&2; \
  echo "{\"step\":\"$(1)\",\"seconds\":$$(( $$(date +%s) - start ))}" >> $(TIMES)
endef
# A training directory that holds a checkpoint (an interrupted run) continues with --resume; one that
# holds none (interrupted before its first checkpoint) starts again with --force.
resume = $$(test -e $(1)/checkpoint/trainer.json -o -e $(1)/checkpoint.old/trainer.json && echo --resume || echo --force)
# stdout of a --json command into its target, atomically.
json = > $@.tmp && mv $@.tmp $@
# $(call agreement,MODEL,SHARD): how often the classifier MODEL labels SHARD's samples as their class (JSON).
agreement = $(SYNTHAUG) train-classifier --evaluate $(1) --val $(2) --json
# $(call feature_fid,SHARD,REFERENCE,MODEL): FID in the classifier MODEL's features (JSON).
feature_fid = $(SYNTHAUG) fid $(1) $(2) --features $(3) --json

# $(call machine,FILE): the machine a report's numbers came from.
define machine
@{ echo "date: $$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "cpus: $$(nproc)"; \
   grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: /cpu: /' || true; \
   grep -o -m1 -w 'avx512f\|avx2' /proc/cpuinfo | sort -r | head -n 1 | sed 's/^/isa: /' || true; \
   echo "memory: $$(awk '/MemTotal/ {printf "%.1f GiB", $$2 / 1048576}' /proc/meminfo 2>/dev/null)"; \
   echo "node: $$(node --version)"; echo "synthaug: $$($(SYNTHAUG) --version)"; \
   echo "backend: $${SYNTHAUG_BACKEND:-auto}"; } > $(1)
endef
# $(call settings,FILE,VARIABLES): the settings a report's numbers came from, one "NAME = value" a line.
define settings
@{ $(foreach v,$(2),echo "$(v) = $($(v))";) } > $(1)
endef
