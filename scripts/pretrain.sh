#!/bin/sh
# Pretrains the small Switch model of configs/switch-small-pretrain.json on the documentation
# corpus (docs/corpus.md) with T5's span-corruption objective, in as many sittings as it takes:
# run it, stop it whenever (Ctrl-C saves a checkpoint), run it again and it resumes where it
# stopped, with the loss curve the uninterrupted run would have drawn.
#
# Every choice is fixed here (init seed, data seed, optimizer, lengths) so two machines with the
# same corpus draw the same run. It leaves out building switchc and the corpus (see
# docs/corpus.md) and the fine-tuning demo.
#
# Environment (all optional):
#   SWITCHC   the switchc binary             (default: build/switchc)
#   CORPUS    the corpus directory            (default: corpus/text)
#   RUN       where the run lives             (default: runs/switch-small-pretrain)
#   STEPS     optimizer updates in all        (default: 20000: 17 passes over 19,000 documents)
#   BATCH     documents per update            (default: 16)
#   THREADS   threads (keep it the same across sittings for a bit-identical curve; default 2)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SWITCHC=${SWITCHC:-$ROOT/build/switchc}
CORPUS=${CORPUS:-$ROOT/corpus/text}
RUN=${RUN:-$ROOT/runs/switch-small-pretrain}
STEPS=${STEPS:-20000}
BATCH=${BATCH:-16}
THREADS=${THREADS:-2}

INIT=$RUN/init
OUT=$RUN/model

for f in "$CORPUS/train.txt" "$CORPUS/heldout.txt"; do
    if [ ! -s "$f" ]; then
        echo "pretrain.sh: $f is missing: run /usr/bin/python3 scripts/corpus/build_corpus.py" >&2
        exit 1
    fi
done
mkdir -p "$RUN"

# 1. Random initial weights (HF init scales, fixed seed) with the real T5 tokenizer.
if [ ! -f "$INIT/config.json" ]; then
    "$SWITCHC" init --config "$ROOT/configs/switch-small-pretrain.json" -o "$INIT" --seed 1 \
        --tokenizer "$ROOT/models/switch-tiny-t5vocab"
fi

# 2. Span corruption (15% of the tokens, mean span 3), Adafactor with Hugging Face's relative
# step (lr min(1e-2, 1/sqrt(t)), T5's pretraining schedule). Documents are at most 400 words,
# about 512 tokens; the targets of 512-token inputs stay under 128 tokens. A checkpoint every
# 500 updates; the held-out split is scored every 2000.
RESUME=
if [ -f "$OUT/trainer_state.json" ] || [ -n "$(ls -d "$OUT"/checkpoint-* 2>/dev/null)" ]; then
    RESUME=--resume
fi
exec "$SWITCHC" train -m "$INIT" -o "$OUT" $RESUME \
    --objective span-corruption \
    --data "$CORPUS/train.txt" --eval "$CORPUS/heldout.txt" --eval-every 2000 \
    --steps "$STEPS" --batch-size "$BATCH" \
    --max-source-length 512 --max-target-length 128 \
    --optimizer adafactor --clip-norm 1.0 --seed 42 \
    --save-every 500 --log-every 10 --log-json "$RUN/train-log.jsonl" \
    -t "$THREADS"
