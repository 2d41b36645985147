# A class-conditional Fashion-MNIST generator trained from scratch, and how good its samples are: the
# result of `finetune` and `sample` that the README reports. With synthaug's commands only; every
# intermediate stays on disk, so an interrupted run continues where it stopped (`make -f generator.mk` again).
#
#   make -f generator.mk                 train (TRAIN_TIME at most), the judge, the guidance sweep, the final set
#   make -f generator.mk LOW_DATA=1      the paper's low-data case instead: pretrain without labels on all
#                                        60,000 images, then fine-tune with --init on LOW_PER_CLASS labelled a class
#   make -f generator.mk QUICK=1         the same graph, tiny (the numbers mean nothing)
#
# Stages:
#   1. model       finetune on the 60,000 training images (EDM, U-Net preset fmnist), TRAIN_TIME wall-clock cap
#   2. judge       ResNet-20 on the real training images (the README's recipe), evaluated on the real test set
#   3. sweep       SWEEP_PER_CLASS samples a class at each guidance weight: agreement (the share the judge labels
#                  as their class), FID with the judge's features against the test set, a sample grid
#   4. final       FINAL_PER_CLASS a class at the sweep's best-agreement weight (or FINAL_GUIDANCE): the same
#   5. reports     $(OUT)/report/NAME/sweep/report.md and .../final/report.md (synthaug report), NAME being
#                  conditional or low-data-LOW_PER_CLASS

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

ifeq ($(QUICK),1)
OUT ?= out-generator-quick
TRAIN_PER_CLASS ?= 30
TEST_PER_CLASS ?= 10
UNET_OPTIONS ?= preset=fmnist baseChannels=8 groups=4 channelMult=1,2 numResBlocks=1
TRAIN_STEPS ?= 3
PRETRAIN_STEPS ?= 2
DIFF_BATCH ?= 8
DIFF_MICRO_BATCH ?= 8
JUDGE_TRAIN ?= --arch resnet20 --arch-option width=4 --steps 4 --batch-size 32
GUIDANCES ?= 0 2
SWEEP_PER_CLASS ?= 2
FINAL_PER_CLASS ?= 3
SAMPLE_STEPS ?= 2
LOW_PER_CLASS ?= 3
else
OUT ?= out-generator
# Empty: all 60,000 training and 10,000 test images.
TRAIN_PER_CLASS ?=
TEST_PER_CLASS ?=
UNET_OPTIONS ?= preset=fmnist
# The run stops at TRAIN_STEPS or TRAIN_TIME, whichever comes first (--resume continues a cut run).
TRAIN_STEPS ?= 20000
PRETRAIN_STEPS ?= 20000
DIFF_BATCH ?= 64
# Images per forward/backward pass: 64 was the fastest of 16, 32 and 64 on 2 cores (native kernels).
DIFF_MICRO_BATCH ?= 64
# The judge: the README's main job (ResNet-20, 7 epochs).
JUDGE_TRAIN ?= --arch resnet20 --epochs 7 --lr 0.1 --warmup 100 --flip --crop-padding 2
GUIDANCES ?= 0 1 1.5 2 3 5
SWEEP_PER_CLASS ?= 50
FINAL_PER_CLASS ?= 1000
SAMPLE_STEPS ?= 10
LOW_PER_CLASS ?= 100
endif
# The README's result: 60 min on a shared machine, then 15 min alone (docs/results/generator).
TRAIN_TIME ?= 75m
PRETRAIN_TIME ?= 45m
FINETUNE_STEPS ?= 1500
FINETUNE_TIME ?= 15m
SAVE_EVERY ?= 200
SAMPLER ?= dpmpp-2m
# 128 sampled fastest of 64, 128 and 256 (one contended run each).
SAMPLE_BATCH ?= 128
# Empty: the sweep's weight of highest agreement.
FINAL_GUIDANCE ?=
SEED ?= 0
SUBSET_SEED ?= 1
SAMPLE_SEED ?= 1
FINAL_SEED ?= 2
LOW_DATA ?=

D := $(OUT)/data
M := $(OUT)/models
L := $(OUT)/logs
UNET := --arch unet $(foreach o,$(UNET_OPTIONS),--arch-option $(o))
DIFF := --batch-size $(DIFF_BATCH) --micro-batch $(DIFF_MICRO_BATCH) --save-every $(SAVE_EVERY) --seed $(SEED)
# The model that is sampled: trained from scratch, or the low-data fine-tune of the unlabelled pretraining.
# Its samples, results and reports are kept apart by its name, so both cases share the data and the judge.
NAME := $(if $(LOW_DATA),low-data-$(LOW_PER_CLASS),conditional)
MODEL := $(M)/$(NAME)
S := $(OUT)/synth/$(NAME)
SWEEP := $(OUT)/results/$(NAME)/sweep
FINAL := $(OUT)/results/$(NAME)/final
SAMPLE := $(SYNTHAUG) sample -m $(MODEL) --sampler $(SAMPLER) --steps $(SAMPLE_STEPS) --batch-size $(SAMPLE_BATCH)

TIMES = $(SWEEP)/times.jsonl

.PHONY: all model judge sweep final report clean
all: report

$(D)/train.tar:
	$(call step,pack train,$(SYNTHAUG) pack --dataset fashion-mnist --split train $(if $(TRAIN_PER_CLASS),--per-class $(TRAIN_PER_CLASS) --seed $(SUBSET_SEED)) > $@.tmp && mv $@.tmp $@)
$(D)/test.tar:
	$(call step,pack test,$(SYNTHAUG) pack --dataset fashion-mnist --split test $(if $(TEST_PER_CLASS),--per-class $(TEST_PER_CLASS) --seed $(SUBSET_SEED)) > $@.tmp && mv $@.tmp $@)
$(D)/labelled-%.tar: $(D)/train.tar
	$(call step,pack labelled=$*,$(SYNTHAUG) pack $< --per-class $* --seed $(SUBSET_SEED) -o $@)

# 1. The model.
$(M)/conditional.done: $(D)/train.tar
	$(call step,train,$(SYNTHAUG) finetune $< -o $(M)/conditional $(UNET) $(DIFF) --max-steps $(TRAIN_STEPS) \
	  --time-budget $(TRAIN_TIME) $(call resume,$(M)/conditional))
	touch $@
$(M)/pretrain.done: $(D)/train.tar
	$(call step,pretrain,$(SYNTHAUG) finetune $< -o $(M)/pretrain $(UNET) $(DIFF) --unconditional --max-steps $(PRETRAIN_STEPS) \
	  --time-budget $(PRETRAIN_TIME) $(call resume,$(M)/pretrain))
	touch $@
$(M)/low-data-%.done: $(D)/labelled-%.tar $(M)/pretrain.done
	$(call step,finetune labelled=$*,$(SYNTHAUG) finetune $< -o $(M)/low-data-$* --init $(M)/pretrain $(UNET) $(DIFF) \
	  --max-steps $(FINETUNE_STEPS) --time-budget $(FINETUNE_TIME) $(call resume,$(M)/low-data-$*))
	touch $@
model: $(MODEL).done

# 2. The judge.
$(M)/judge.done: $(D)/train.tar $(D)/test.tar
	$(call step,judge,$(SYNTHAUG) train-classifier $< --val $(D)/test.tar -o $(M)/judge $(JUDGE_TRAIN) --seed $(SEED) --log-every 100 \
	  --json $(call resume,$(M)/judge) > $(M)/judge.json.tmp)
	mv $(M)/judge.json.tmp $(M)/judge.json
	touch $@
$(SWEEP)/reference/classifier.json: $(M)/judge.done
	mkdir -p $(dir $@) && cp $(M)/judge.json $@
judge: $(M)/judge.done

# 3. The sweep: samples, agreement, FID and a grid at each weight. (Make would take a literal '=' in a
# rule's target for an assignment, so those targets are built by gdir.)
gdir = $(SWEEP)/guidance=$(1)
define sweep_point
$(S)/sweep-w$(1).tar: $(MODEL).done
	$$(call step,sample guidance=$(1),mkdir -p $(SWEEP)/guidance=$(1) && $(SAMPLE) --per-class $(SWEEP_PER_CLASS) --guidance $(1) \
	  --seed $(SAMPLE_SEED) --grid $(SWEEP)/guidance=$(1)/grid.png -o $$@)
$$(call gdir,$(1))/agreement.json: $(S)/sweep-w$(1).tar $(M)/judge.done
	$$(call step,agreement guidance=$(1),$$(call agreement,$(M)/judge,$$<) $$(json))
$$(call gdir,$(1))/fid.json: $(S)/sweep-w$(1).tar $(D)/test.tar $(M)/judge.done
	$$(call step,fid guidance=$(1),$$(call feature_fid,$$<,$(D)/test.tar,$(M)/judge) $$(json))
endef
$(foreach w,$(GUIDANCES),$(eval $(call sweep_point,$(w))))
SWEEP_RESULTS := $(foreach w,$(GUIDANCES),$(SWEEP)/guidance=$(w)/agreement.json $(SWEEP)/guidance=$(w)/fid.json)
sweep: $(SWEEP_RESULTS)

# 4. The final set, at FINAL_GUIDANCE or the sweep's best agreement (ties: the lower weight).
best_guidance = $(or $(FINAL_GUIDANCE),$$(node -e 'const fs = require("fs"); let best; \
  for (const w of process.argv.slice(1)) { const a = JSON.parse(fs.readFileSync(`$(SWEEP)/guidance=$${w}/agreement.json`)).top1; \
    if (best === undefined || a > best.a) best = { w, a }; } console.log(best.w)' $(GUIDANCES)))
$(FINAL)/guidance.txt: $(SWEEP_RESULTS)
	@mkdir -p $(FINAL)
	echo $(best_guidance) > $@
$(S)/final.tar: $(FINAL)/guidance.txt
	$(call step,sample final,w=$$(cat $<) && mkdir -p $(FINAL)/guidance=$$w && $(SAMPLE) --per-class $(FINAL_PER_CLASS) \
	  --guidance $$w --seed $(FINAL_SEED) --grid $(FINAL)/guidance=$$w/grid.png -o $@)
$(FINAL)/done: $(S)/final.tar $(D)/test.tar $(M)/judge.done
	w=$$(cat $(FINAL)/guidance.txt) && \
	  $(call agreement,$(M)/judge,$<) > $(FINAL)/guidance=$$w/agreement.json.tmp && \
	  $(call feature_fid,$<,$(D)/test.tar,$(M)/judge) > $(FINAL)/guidance=$$w/fid.json.tmp && \
	  mv $(FINAL)/guidance=$$w/agreement.json.tmp $(FINAL)/guidance=$$w/agreement.json && \
	  mv $(FINAL)/guidance=$$w/fid.json.tmp $(FINAL)/guidance=$$w/fid.json
	touch $@
final: $(FINAL)/done

# 5. The reports.
REPORT_SETTINGS := LOW_DATA LOW_PER_CLASS UNET_OPTIONS TRAIN_STEPS TRAIN_TIME PRETRAIN_STEPS PRETRAIN_TIME FINETUNE_STEPS FINETUNE_TIME \
  DIFF_BATCH DIFF_MICRO_BATCH JUDGE_TRAIN GUIDANCES SWEEP_PER_CLASS FINAL_PER_CLASS SAMPLER SAMPLE_STEPS SEED SAMPLE_SEED FINAL_SEED
report: $(FINAL)/done $(SWEEP)/reference/classifier.json
	$(call machine,$(SWEEP)/machine.txt)
	$(call settings,$(SWEEP)/settings.txt,$(REPORT_SETTINGS))
	$(SYNTHAUG) report $(SWEEP) -o $(OUT)/report/$(NAME)/sweep --title "Fashion-MNIST generator: guidance sweep ($(SWEEP_PER_CLASS) a class)"
	$(SYNTHAUG) report $(FINAL) -o $(OUT)/report/$(NAME)/final --title "Fashion-MNIST generator: $(FINAL_PER_CLASS) a class at the best guidance"

clean:
	rm -rf $(OUT)
