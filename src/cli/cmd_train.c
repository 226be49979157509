/* switchc train: fine-tunes (or pretrains) a checkpoint on a data file and
 * writes a Hugging Face directory, through the library's trainer
 * (sc_trainer_*) and training data (sc_data_*).
 *
 * The run: batches from --data in a seeded order per epoch; every
 * micro-batch is one sc_trainer_step; an optimizer update every --grad-accum
 * of them (and at the end of an epoch that has no more batches than that, as
 * HF's Trainer does); a log line every --log-every updates (a JSON object per
 * line to --log-json, a progress line on a terminal); an evaluation of
 * --eval every --eval-every updates (token-weighted cross-entropy through
 * the scoring path); a checkpoint OUT/checkpoint-<step>/ every --save-every
 * updates. OUT always ends as a complete checkpoint with the state --resume
 * needs: the last one, or with --eval the best evaluated one.
 * Interrupted (SIGINT, SIGTERM), the run finishes the update under way,
 * saves OUT/checkpoint-<step>/ and exits 130.
 *
 * Left out: several data files, packing documents into fixed lengths,
 * bf16 compute. */
#define _GNU_SOURCE
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "switchc.h"
#include "util/clock.h"
#include "util/json.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc train -m DIR --data FILE -o OUT [options]\n\n"
            "Trains a Switch Transformers checkpoint as Hugging Face transformers trains\n"
            "SwitchTransformersForConditionalGeneration (loss = cross-entropy + the router z-loss\n"
            "and load-balancing loss with config.json's coefficients; dropout and router jitter\n"
            "from config.json) and writes OUT, a directory from_pretrained loads.\n"
            "  -m DIR                 checkpoint to start from (a directory or a cached repo id)\n"
            "  --revision REF         with a repo id: branch, tag or commit\n"
            "  --data FILE            training data: JSON lines {\"input\": TEXT, \"target\": TEXT}\n"
            "                         (seq2seq), or plain text, one document a line (span-corruption)\n"
            "  -o, --output OUT       the directory written (refused if it holds another checkpoint,\n"
            "                         unless --force)\n"
            "  --objective NAME       seq2seq (default) or span-corruption (T5's: 15%% of the tokens\n"
            "                         in spans of mean length 3 replaced by sentinels)\n"
            "  --steps N              optimizer updates in all; or\n"
            "  --epochs N             passes over the data (default 1): HF's update count\n"
            "  --batch-size N         examples per micro-batch (default 8)\n"
            "  --grad-accum N         micro-batches per update (default 1)\n"
            "  --max-source-length N  truncate inputs to N tokens (default 512)\n"
            "  --max-target-length N  truncate targets to N tokens (default 128)\n"
            "  --optimizer NAME       adafactor (default) or adamw\n"
            "  --lr X                 learning rate; without it Adafactor runs HF's relative step\n"
            "                         (adamw needs --lr)\n"
            "  --schedule NAME        constant (default), constant_with_warmup, linear, inverse_sqrt\n"
            "  --warmup-steps N       linear warmup updates (default 0)\n"
            "  --weight-decay X       decoupled weight decay, not on norms and biases (default 0)\n"
            "  --clip-norm X          clip the global gradient norm (default 1.0; 0 = off)\n"
            "  --dropout X            dropout rate (default: config.json's dropout_rate)\n"
            "  --router-jitter X      router jitter noise (default: config.json's)\n"
            "  --freeze WHAT          none (default), router, experts, or dense: parameters left fixed\n"
            "  --seed N               data order, span masks, dropout and jitter (default 42)\n"
            "  --eval FILE            held-out data (same kind as --data), scored every --eval-every\n"
            "                         updates and at the end; OUT then keeps the best evaluated model\n"
            "  --eval-every N         default: once per epoch\n"
            "  --patience N           stop after N evaluations without improvement\n"
            "  --save-every N         also write OUT/checkpoint-<step>/ every N updates\n"
            "  --save-dtype T         f32 (default: exact resume) or bf16 for the matrices of OUT\n"
            "  --log-every N          log every N updates (default 10)\n"
            "  --log-json FILE        append one JSON object per log line: step, epoch, loss, ce,\n"
            "                         lr, grad_norm, tokens_per_s, elapsed_s (eval lines: eval_loss,\n"
            "                         eval_ppl, eval_tokens)\n"
            "  --resume               continue the run saved in OUT (the latest of OUT and its\n"
            "                         checkpoint-*/ directories) with the same options\n"
            "  --tokenizer DIR        tokenizer files (default: the model's)\n"
            "  -t N                   threads, 1 to 256 (also --threads)\n"
            "  --force                replace a checkpoint in OUT that this training did not write\n"
            "  --quiet                no progress line\n"
            "Options taking a value accept --opt VALUE and --opt=VALUE.\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage, 130 interrupted (a checkpoint saved).\n");
}

static const char *const objectives[] = {"seq2seq", "span-corruption", NULL};
static const char *const optimizers[] = {"adafactor", "adamw", NULL};
static const char *const schedules[] = {"constant", "constant_with_warmup", "linear", "inverse_sqrt", NULL};
static const char *const freezes[] = {"none", "router", "experts", "dense", NULL};
static const char *const save_dtypes[] = {"f32", "bf16", NULL};

typedef struct train_opts {
    const char *model_dir, *revision, *data, *out, *eval, *log_json, *tokenizer;
    int objective, optimizer, schedule, freeze, save_dtype;
    int64_t steps, epochs, batch, accum, max_src, max_tgt, warmup, seed, eval_every, patience, save_every,
        log_every, threads;
    double lr, wd, clip, dropout, jitter;
    bool resume, force, quiet;
} train_opts;

#define AT(field) .off = offsetof(train_opts, field)
static const args_opt train_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--data", ARGS_STRING, AT(data)},
    {"-o", "--output", ARGS_STRING, AT(out)},
    {NULL, "--objective", ARGS_CHOICE, AT(objective), .choices = objectives},
    {NULL, "--steps", ARGS_INT, AT(steps), .ilo = 1, .ihi = INT64_C(1) << 40},
    {NULL, "--epochs", ARGS_INT, AT(epochs), .ilo = 1, .ihi = 1000000},
    {NULL, "--batch-size", ARGS_INT, AT(batch), .ilo = 1, .ihi = 65536},
    {NULL, "--grad-accum", ARGS_INT, AT(accum), .ilo = 1, .ihi = 65536},
    {NULL, "--max-source-length", ARGS_INT, AT(max_src), .ilo = 2, .ihi = 1 << 20},
    {NULL, "--max-target-length", ARGS_INT, AT(max_tgt), .ilo = 1, .ihi = 1 << 20},
    {NULL, "--optimizer", ARGS_CHOICE, AT(optimizer), .choices = optimizers},
    {NULL, "--lr", ARGS_DOUBLE, AT(lr), .dlo = 0, .dhi = 10},
    {NULL, "--schedule", ARGS_CHOICE, AT(schedule), .choices = schedules},
    {NULL, "--warmup-steps", ARGS_INT, AT(warmup), .ilo = 0, .ihi = INT64_C(1) << 40},
    {NULL, "--weight-decay", ARGS_DOUBLE, AT(wd), .dlo = 0, .dhi = 10},
    {NULL, "--clip-norm", ARGS_DOUBLE, AT(clip), .dlo = 0, .dhi = 1e9},
    {NULL, "--dropout", ARGS_DOUBLE, AT(dropout), .dlo = 0, .dhi = 0.99},
    {NULL, "--router-jitter", ARGS_DOUBLE, AT(jitter), .dlo = 0, .dhi = 0.99},
    {NULL, "--freeze", ARGS_CHOICE, AT(freeze), .choices = freezes},
    {NULL, "--seed", ARGS_INT, AT(seed), .ilo = 0, .ihi = INT64_MAX},
    {NULL, "--eval", ARGS_STRING, AT(eval)},
    {NULL, "--eval-every", ARGS_INT, AT(eval_every), .ilo = 1, .ihi = INT64_C(1) << 40},
    {NULL, "--patience", ARGS_INT, AT(patience), .ilo = 1, .ihi = 1000000},
    {NULL, "--save-every", ARGS_INT, AT(save_every), .ilo = 1, .ihi = INT64_C(1) << 40},
    {NULL, "--save-dtype", ARGS_CHOICE, AT(save_dtype), .choices = save_dtypes},
    {NULL, "--log-every", ARGS_INT, AT(log_every), .ilo = 1, .ihi = INT64_C(1) << 40},
    {NULL, "--log-json", ARGS_STRING, AT(log_json)},
    {NULL, "--resume", ARGS_FLAG, AT(resume)},
    {NULL, "--tokenizer", ARGS_STRING, AT(tokenizer)},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 256, .label = "-t"},
    {NULL, "--force", ARGS_FLAG, AT(force)},
    {NULL, "--quiet", ARGS_FLAG, AT(quiet)},
    {0},
};
#undef AT
static const args_spec train_args = {
    .cmd = "train", .usage = usage, .opts = train_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_NONE,
};

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* What --resume needs beyond the trainer's own state, kept as the trainer
 * state's user_state: the place in the data and the evaluation record. */
typedef struct run_state {
    sc_data_pos pos;
    double best;        /* best eval loss so far (INFINITY: none) */
    int64_t best_step;
    int64_t bad_evals;  /* evaluations since the best */
} run_state;

static void state_json(const run_state *r, char *buf, size_t cap) {
    snprintf(buf, cap, "{\"epoch\": %" PRId64 ", \"index\": %" PRId64 ", \"best\": %.17g, \"best_step\": %" PRId64
                       ", \"bad_evals\": %" PRId64 "}",
             r->pos.epoch, r->pos.index, isfinite(r->best) ? r->best : -1.0, r->best_step, r->bad_evals);
}

static bool state_parse(const char *text, run_state *r) {
    sc_json_doc *doc = NULL;
    sc_error err;
    if (!text || sc_json_parse(text, strlen(text), "trainer_state.json user_state", &doc, &err)) return false;
    const sc_json *root = sc_json_root(doc);
    double best = -1;
    bool ok = sc_json_int(sc_json_get(root, "epoch"), &r->pos.epoch) &&
              sc_json_int(sc_json_get(root, "index"), &r->pos.index) &&
              sc_json_number(sc_json_get(root, "best"), &best) &&
              sc_json_int(sc_json_get(root, "best_step"), &r->best_step) &&
              sc_json_int(sc_json_get(root, "bad_evals"), &r->bad_evals);
    r->best = best < 0 ? INFINITY : best;
    sc_json_free(doc);
    return ok;
}

/* The step a saved directory was at (its trainer_state.json), -1 if none. */
static int64_t saved_step(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    sc_json_doc *doc = NULL;
    sc_error err;
    int64_t step = -1;
    if (sc_json_parse(buf, n, path, &doc, &err) == SC_OK) {
        if (!sc_json_int(sc_json_get(sc_json_root(doc), "step"), &step)) step = -1;
        sc_json_free(doc);
    }
    return step;
}

/* The latest resumable directory of OUT: OUT itself or OUT/checkpoint-N. */
static bool latest_state(const char *out, char *buf, size_t cap) {
    int64_t best = saved_step(out);
    if (best >= 0) snprintf(buf, cap, "%s", out);
    DIR *d = opendir(out);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", out, e->d_name);
        int64_t s = saved_step(sub);
        if (s > best) {
            best = s;
            snprintf(buf, cap, "%s", sub);
        }
    }
    if (d) closedir(d);
    return best >= 0;
}

typedef struct logger {
    FILE *json;
    bool tty;
    double t0, t_last;
    int64_t tokens, tokens_last; /* source + target tokens trained on */
    double loss_sum, ce_sum;     /* since the last log line */
    int64_t n_micro;
} logger;

static void log_json_open(logger *lg, const char *path) {
    if (path) lg->json = fopen(path, "ab");
}

static void log_update(logger *lg, const sc_train_step_info *info, int64_t total, double epoch) {
    const double now = sc_clock_seconds(), dt = now - lg->t_last;
    const double tps = dt > 0 ? (double)(lg->tokens - lg->tokens_last) / dt : 0;
    const double loss = lg->n_micro ? lg->loss_sum / (double)lg->n_micro : NAN;
    const double ce = lg->n_micro ? lg->ce_sum / (double)lg->n_micro : NAN;
    if (lg->json) {
        fprintf(lg->json,
                "{\"step\": %" PRId64 ", \"epoch\": %.4f, \"loss\": %.6g, \"ce\": %.6g, \"lr\": %.6g, "
                "\"grad_norm\": %.6g, \"tokens_per_s\": %.1f, \"elapsed_s\": %.3f}\n",
                info->step, epoch, loss, ce, info->lr, isfinite(info->grad_norm) ? info->grad_norm : -1.0, tps,
                now - lg->t0);
        fflush(lg->json);
    }
    if (lg->tty) {
        const double rate = info->step > 0 ? (now - lg->t0) / (double)info->step : 0;
        const double eta = rate * (double)(total - info->step);
        fprintf(stderr, "\rstep %" PRId64 "/%" PRId64 "  loss %.4f  lr %.3g  %.0f tok/s  ETA %dm%02ds   ",
                info->step, total, loss, info->lr, tps, (int)(eta / 60), (int)fmod(eta, 60));
        fflush(stderr);
    }
    lg->t_last = now;
    lg->tokens_last = lg->tokens;
    lg->loss_sum = lg->ce_sum = 0;
    lg->n_micro = 0;
}

static int64_t count_ones(const int32_t *mask, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += mask[i] != 0;
    return k;
}

static int64_t count_labels(const int32_t *labels, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += labels[i] != -100;
    return k;
}

/* The evaluation set as score pairs, built once (the data's first epoch,
 * unshuffled: span masks then stay the same at every evaluation). */
typedef struct eval_set {
    sc_score_pair *pairs;
    sc_score *scores;
    int64_t n;
} eval_set;

static void eval_free(eval_set *e) {
    for (int64_t i = 0; e->pairs && i < e->n; i++) {
        free((void *)e->pairs[i].input);
        free((void *)e->pairs[i].target);
    }
    free(e->pairs);
    free(e->scores);
    memset(e, 0, sizeof *e);
}

static bool eval_build(const char *path, const sc_tokenizer *tok, const sc_data_params *dp, eval_set *e) {
    sc_data_params p = *dp;
    p.batch_size = 1;
    p.shuffle = false;
    p.drop_last = false;
    sc_data *d = NULL;
    sc_error err;
    if (sc_data_open(path, tok, &p, &d, &err)) {
        fprintf(stderr, "switchc train: --eval: %s\n", err.msg);
        return false;
    }
    e->n = sc_data_count(d);
    e->pairs = calloc((size_t)e->n, sizeof *e->pairs);
    e->scores = calloc((size_t)e->n, sizeof *e->scores);
    bool ok = e->pairs && e->scores;
    sc_data_batch b = {0};
    for (int64_t i = 0; ok && i < e->n; i++) {
        if (sc_data_next(d, &b, &err)) {
            fprintf(stderr, "switchc train: --eval: %s\n", err.msg);
            ok = false;
            break;
        }
        int32_t *in = malloc((size_t)b.S * sizeof *in), *tg = malloc((size_t)b.T * sizeof *tg);
        ok = in && tg;
        if (ok) {
            memcpy(in, b.input_ids, (size_t)b.S * sizeof *in);
            memcpy(tg, b.labels, (size_t)b.T * sizeof *tg);
        }
        e->pairs[i] = (sc_score_pair){.input = in, .input_len = b.S, .target = tg, .target_len = b.T};
    }
    sc_data_batch_free(&b);
    sc_data_free(d);
    if (!ok) {
        if (!e->pairs || !e->scores) fprintf(stderr, "switchc train: --eval: out of memory\n");
        eval_free(e);
    }
    return ok;
}

/* Token-weighted cross-entropy of the evaluation set; NaN on failure. */
static double evaluate(sc_trainer *t, eval_set *e, int64_t *tokens) {
    sc_error err;
    if (sc_trainer_score(t, e->pairs, e->n, e->scores, &err)) {
        fprintf(stderr, "switchc train: evaluation failed: %s\n", err.msg);
        return NAN;
    }
    double sum = 0;
    int64_t tok = 0;
    for (int64_t i = 0; i < e->n; i++) {
        sum += e->scores[i].ce * (double)e->scores[i].tokens;
        tok += e->scores[i].tokens;
    }
    *tokens = tok;
    return tok ? sum / (double)tok : NAN;
}

static bool save(sc_trainer *t, const char *dir, const train_opts *o, const run_state *rs, bool force) {
    char user[512];
    state_json(rs, user, sizeof user);
    sc_trainer_save_params sp = sc_trainer_save_default_params();
    sp.dtype = o->save_dtype == 1 ? SC_DTYPE_BF16 : SC_DTYPE_F32;
    sp.with_state = true;
    sp.tokenizer = o->tokenizer;
    sp.user_state = user;
    sp.force = force;
    sc_error err;
    if (sc_trainer_save(t, dir, &sp, &err)) {
        fprintf(stderr, "switchc train: saving %s: %s\n", dir, err.msg);
        return false;
    }
    return true;
}

int cmd_train(int argc, char **argv) {
    train_opts o = {.batch = 8, .accum = 1, .max_src = 512, .max_tgt = 128, .clip = 1.0, .dropout = -1,
                    .jitter = -1, .seed = 42, .log_every = 10};
    int rc = args_parse(&train_args, argc, argv, &o);
    if (rc != ARGS_GO) return rc;
    if (!o.model_dir || !o.data || !o.out) {
        fprintf(stderr, "switchc train: -m DIR, --data FILE and -o OUT are required (see --help)\n");
        return SC_EXIT_USAGE;
    }
    if (o.steps && o.epochs) {
        fprintf(stderr, "switchc train: give --steps or --epochs, not both\n");
        return SC_EXIT_USAGE;
    }
    if (o.optimizer == 1 && o.lr <= 0) {
        fprintf(stderr, "switchc train: --optimizer adamw needs --lr\n");
        return SC_EXIT_USAGE;
    }
    if ((o.patience || o.eval_every) && !o.eval) {
        fprintf(stderr, "switchc train: --patience and --eval-every need --eval FILE\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("train", &o.model_dir, o.revision)) return SC_EXIT_FAIL;
    char resume_dir[4096] = "";
    if (o.resume && !latest_state(o.out, resume_dir, sizeof resume_dir)) {
        char state[4096];
        struct stat sst;
        snprintf(state, sizeof state, "%s/trainer_state.json", o.out);
        if (stat(state, &sst) == 0)
            fprintf(stderr, "switchc train: --resume: %s has no readable step count: not a saved run's state\n",
                    state);
        else
            fprintf(stderr, "switchc train: --resume: %s holds no saved run (trainer_state.json)\n", o.out);
        return SC_EXIT_FAIL;
    }
    if (!o.resume && !cli_output_check("train", o.out, NULL, o.force)) return SC_EXIT_FAIL;
    if (o.log_json && cli_is_file_of(o.log_json, o.model_dir)) {
        fprintf(stderr, "switchc train: --log-json %s is a file of the model\n", o.log_json);
        return SC_EXIT_USAGE;
    }
    /* the log is appended to: aimed at the data, it would grow the user's file */
    if (o.log_json && (cli_same_file(o.log_json, o.data) || cli_same_file(o.log_json, o.eval))) {
        fprintf(stderr, "switchc train: --log-json %s is the %s file\n", o.log_json,
                cli_same_file(o.log_json, o.data) ? "--data" : "--eval");
        return SC_EXIT_USAGE;
    }

    sc_error err;
    sc_tokenizer *tok = NULL;
    const char *tok_dir = o.tokenizer ? o.tokenizer : o.model_dir;
    if (sc_tokenizer_load(tok_dir, &tok, &err)) {
        fprintf(stderr, "switchc train: tokenizer: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    sc_data_params dp = sc_data_default_params();
    dp.kind = o.objective == 1 ? SC_DATA_TEXT : SC_DATA_SEQ2SEQ;
    dp.max_source_len = o.max_src;
    dp.max_target_len = o.max_tgt;
    dp.batch_size = o.batch;
    dp.seed = (uint64_t)o.seed;
    sc_data *data = NULL;
    eval_set ev = {0};
    sc_trainer *t = NULL;
    logger lg = {.tty = !o.quiet && isatty(2)};
    int status = SC_EXIT_FAIL;
    if (sc_data_open(o.data, tok, &dp, &data, &err)) {
        fprintf(stderr, "switchc train: %s\n", err.msg);
        goto done;
    }
    if (o.eval && !eval_build(o.eval, tok, &dp, &ev)) goto done;

    const int64_t per_epoch = sc_data_batches_per_epoch(data);
    /* HF: updates per epoch = max(batches // accum, 1), times the epochs */
    const int64_t upd_per_epoch = per_epoch / o.accum > 0 ? per_epoch / o.accum : 1;
    const int64_t total = o.steps ? o.steps : (o.epochs ? o.epochs : 1) * upd_per_epoch;
    const int64_t eval_every = o.eval_every ? o.eval_every : upd_per_epoch;

    sc_trainer_params tp = sc_trainer_default_params();
    tp.optimizer = o.optimizer == 1 ? SC_OPTIMIZER_ADAMW : SC_OPTIMIZER_ADAFACTOR;
    tp.lr = o.lr;
    tp.schedule = (sc_schedule)o.schedule;
    tp.warmup_steps = o.warmup;
    tp.total_steps = total;
    tp.weight_decay = o.wd;
    tp.max_grad_norm = o.clip;
    tp.grad_accum = o.accum;
    tp.dropout_rate = o.dropout;
    tp.router_jitter_noise = o.jitter;
    tp.seed = (uint64_t)o.seed;
    static const unsigned freeze_flags[] = {0, SC_FREEZE_ROUTER, SC_FREEZE_EXPERTS, SC_FREEZE_DENSE};
    tp.freeze = freeze_flags[o.freeze];
    tp.n_threads = (int)o.threads;
    run_state rs = {.best = INFINITY};
    if (sc_trainer_new(o.resume ? resume_dir : o.model_dir, &tp, &t, &err)) {
        fprintf(stderr, "switchc train: %s\n", err.msg);
        goto done;
    }
    if (o.resume) {
        char *user = NULL;
        if (sc_trainer_resume(t, resume_dir, &user, &err) || !state_parse(user, &rs) ||
            sc_data_seek(data, rs.pos, &err)) {
            fprintf(stderr, "switchc train: --resume %s: %s\n", resume_dir,
                    err.msg[0] ? err.msg : "its user_state is not switchc train's");
            free(user);
            goto done;
        }
        free(user);
        fprintf(stderr, "switchc train: resuming %s at step %" PRId64 "\n", resume_dir, sc_trainer_steps(t));
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr,
            "switchc train: %" PRId64 " examples (%" PRId64 " batches of %" PRId64 " per epoch), %" PRId64
            " updates, %" PRId64 " trainable parameters\n",
            sc_data_count(data), per_epoch, o.batch, total, sc_trainer_trainable(t));
    log_json_open(&lg, o.log_json);
    if (o.log_json && !lg.json) {
        fprintf(stderr, "switchc train: cannot open --log-json %s: %s\n", o.log_json, strerror(errno));
        goto done;
    }
    lg.t0 = lg.t_last = sc_clock_seconds();

    sc_data_batch b = {0};
    bool stop = false, best_saved = false;
    status = SC_EXIT_OK;
    while (!stop && sc_trainer_steps(t) < total) {
        if (sc_data_next(data, &b, &err)) {
            fprintf(stderr, "\nswitchc train: %s\n", err.msg);
            status = SC_EXIT_FAIL;
            break;
        }
        sc_train_step_info info;
        if (sc_trainer_step(t, b.input_ids, b.attention_mask, b.B, b.S, b.labels, b.T, &info, &err)) {
            fprintf(stderr, "\nswitchc train: step %" PRId64 ": %s\n", sc_trainer_steps(t) + 1, err.msg);
            status = SC_EXIT_FAIL;
            break;
        }
        lg.tokens += count_ones(b.attention_mask, b.B * b.S) + count_labels(b.labels, b.B * b.T);
        lg.loss_sum += info.losses.loss;
        lg.ce_sum += info.losses.ce;
        lg.n_micro++;
        const sc_data_pos pos = sc_data_tell(data);
        /* HF: an epoch with no more batches than accum updates at its end */
        if (!info.updated && pos.index == 0 && per_epoch <= o.accum && sc_trainer_update(t, &info, &err)) {
            fprintf(stderr, "\nswitchc train: %s\n", err.msg);
            status = SC_EXIT_FAIL;
            break;
        }
        if (!info.updated) continue;
        rs.pos = pos;
        const int64_t step = info.step;
        const double epoch = (double)sc_trainer_micro_batches(t) / (double)per_epoch;
        if (step % o.log_every == 0 || step == total) log_update(&lg, &info, total, epoch);
        if (ev.n && (step % eval_every == 0 || step == total)) {
            int64_t etok = 0;
            const double el = evaluate(t, &ev, &etok);
            if (isnan(el)) {
                status = SC_EXIT_FAIL;
                break;
            }
            const bool better = el < rs.best;
            if (better) {
                rs.best = el;
                rs.best_step = step;
                rs.bad_evals = 0;
            } else {
                rs.bad_evals++;
            }
            if (lg.json) {
                fprintf(lg.json,
                        "{\"step\": %" PRId64 ", \"eval_loss\": %.6g, \"eval_ppl\": %.6g, \"eval_tokens\": %" PRId64
                        ", \"best\": %s}\n",
                        step, el, exp(el), etok, better ? "true" : "false");
                fflush(lg.json);
            }
            if (lg.tty) fprintf(stderr, "\n");
            fprintf(stderr, "switchc train: step %" PRId64 ": eval loss %.4f (perplexity %.2f)%s\n", step, el, exp(el),
                    better ? ", the best so far: saved" : "");
            if (better) {
                if (!save(t, o.out, &o, &rs, o.force || best_saved || o.resume)) {
                    status = SC_EXIT_FAIL;
                    break;
                }
                best_saved = true;
            }
            if (o.patience && rs.bad_evals >= o.patience) {
                fprintf(stderr, "switchc train: no improvement in %" PRId64 " evaluations: stopping (best: step %" PRId64
                                ")\n",
                        rs.bad_evals, rs.best_step);
                stop = true;
            }
        }
        if ((o.save_every && step % o.save_every == 0) || interrupted) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/checkpoint-%" PRId64, o.out, step);
            if (!save(t, dir, &o, &rs, true)) {
                status = SC_EXIT_FAIL;
                break;
            }
            if (interrupted) {
                if (lg.tty) fprintf(stderr, "\n");
                fprintf(stderr, "switchc train: interrupted at step %" PRId64 ": saved %s (--resume continues)\n", step,
                        dir);
                status = 130;
                break;
            }
        }
    }
    sc_data_batch_free(&b);
    if (lg.tty) fprintf(stderr, "\n");
    if (status == SC_EXIT_OK && !ev.n && !save(t, o.out, &o, &rs, o.force || o.resume)) status = SC_EXIT_FAIL;
    if (status == SC_EXIT_OK)
        fprintf(stderr, "switchc train: wrote %s (step %" PRId64 "%s)\n", o.out,
                ev.n ? rs.best_step : sc_trainer_steps(t), ev.n ? ", the best evaluated" : "");
done:
    if (lg.json) fclose(lg.json);
    eval_free(&ev);
    sc_trainer_free(t);
    sc_data_free(data);
    sc_tokenizer_free(tok);
    return status;
}
