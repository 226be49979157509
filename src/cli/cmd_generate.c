/* switchc generate: text in, text out, with Hugging Face generate()
 * semantics (greedy, beam search, sampling). Prompts come from arguments,
 * from stdin (one per line) or as {"text": ...} JSON lines (--jsonl). They
 * are generated in padded batches of up to --batch-size prompts; stdin lines
 * are answered as they arrive (a batch is whatever lines have come when the
 * engine is free), output line i answering input line i.
 *
 * What users rely on, and why the code looks the way it does:
 *  - Text is decoded with SC_DECODE_SKIP_UNKNOWN: a model's embedding has
 *    more rows than the tokenizer has ids (32128 vs 32100), and such an id
 *    gives no text (HF's fast tokenizer) plus one warning, never a failure.
 *  - Streaming on a terminal prints exactly the text a pipe gets: the row is
 *    re-decoded as a whole after each token and only the part later tokens
 *    cannot change is printed (see stable_len).
 *  - Sampling draws a fresh seed from the OS unless --seed is given, reports
 *    it with the stats, and keys each prompt's random stream by its index in
 *    the input, so batching never changes a sample.
 * Left out: per-prompt decoding options, reordering answers. */
#define _GNU_SOURCE
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "util/clock.h"
#include "util/json.h"
#include "switchc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc generate -m DIR [options] [PROMPT...]\n\n"
            "Generates text for each PROMPT (or each stdin line when none is given) with the\n"
            "Switch Transformers checkpoint in DIR, as Hugging Face generate() does. Output line i\n"
            "answers input line i; stdin lines are answered as they arrive (an empty line gets an\n"
            "empty answer).\n\n"
            "input/output:\n"
            "  -m, --model DIR            checkpoint directory (config.json, weights, spiece.model),\n"
            "                             or a Hugging Face repo id ORG/NAME in the local cache\n"
            "  --revision REF             with a repo id: branch, tag or commit (default: main)\n"
            "  --jsonl                    read {\"text\": ...} lines on stdin\n"
            "  --batch-size N             prompts generated together (default 8)\n"
            "  --json                     one JSON object per output: {\"prompt\",\"text\",\"ids\"[,\"score\"]\n"
            "                             [,\"filled\"]}\n"
            "  --raw                      decode keeping special tokens (<pad>, </s>) as HF decode does\n"
            "  --ids                      print the output ids instead of text\n"
            "  --fill                     print each prompt with every <extra_id_N> replaced by its span\n"
            "                             (a marker the output has no span for is kept as it is)\n"
            "  --stats                    print timings, tokens/s, the seed and per-layer expert stats\n"
            "                             on stderr\n"
            "  --stats-json FILE          write the timings, the seed and expert stats as JSON to FILE\n"
            "  --no-stream                do not stream tokens on a terminal\n"
            "decoding (defaults from generation_config.json, else HF's):\n"
            "  --max-new-tokens N  --max-length N  --min-new-tokens N  --min-length N\n"
            "  --num-beams N  --num-return-sequences N  --length-penalty X\n"
            "  --early-stopping true|false|never  --no-repeat-ngram-size N  --repetition-penalty X\n"
            "  --do-sample  --temperature X  --top-k N  --top-p X\n"
            "  --seed N                   sampling seed (default: a fresh one each run, shown by --stats)\n"
            "engine:\n"
            "  -t, --threads N            threads (default: physical cores, or SWITCHC_THREADS)\n"
            "  --drop-policy hf4|zero|none  tokens over expert capacity (default hf4)\n"
            "  --kernels NAME             kernel table (best, exact, ref, ref-bf16, avx512, avx512-vnni, avx512-bf16, amx)\n"
            "  --dtype f32|bf16|f16|q8    weights converted at load / per expert on first use\n"
            "                             (default: as stored in the checkpoint)\n"
            "  --max-memory SIZE          bound resident expert weights (12G, 512M; default unbounded)\n"
            "  --no-mmap                  read the weights into memory instead of mapping them\n"
            "                             (slower load; weights stream a little faster: docs/memory.md)\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}


/* A growing byte buffer. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
} text_buf;

static bool buf_reserve(text_buf *b, size_t want) {
    if (want <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) return false;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Decodes ids[0..n) into b (b->n = its length); the library's status. */
static sc_status decode_into(const sc_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, text_buf *b,
                             sc_error *err) {
    for (;;) {
        size_t len = 0;
        sc_status st = sc_tokenizer_decode(tok, ids, n, flags, b->p, b->cap, &len, err);
        if (st == SC_OK) {
            b->n = len;
            return SC_OK;
        }
        if (st != SC_ERR_BUFFER_TOO_SMALL) return st;
        if (len == SIZE_MAX || !buf_reserve(b, len + 1)) {
            if (err) snprintf(err->msg, sizeof err->msg, "out of memory decoding %zu ids", n);
            return SC_ERR_NOMEM;
        }
    }
}

/* The output's ids without <pad> and </s>: what users want to read for span
 * filling ("<extra_id_0> man<extra_id_1> beer..."). */
static size_t strip_pad_eos(const sc_tokenizer *tok, const int32_t *ids, size_t n, int32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != sc_tokenizer_pad_id(tok) && ids[i] != sc_tokenizer_eos_id(tok)) out[k++] = ids[i];
    return k;
}

/* The bytes at the end of a decoded text that later tokens may still
 * change. Appending tokens changes the text only near its end: trailing
 * spaces (HF strips each sub-text, then joins sentinels with a space), the
 * text after the last <unk> (HF's convert_tokens_to_string puts the space
 * it owes a special token in front of the pieces before it), a U+FFFD that
 * a byte-fallback sequence may complete, and clean_up_tokenization, whose
 * ten replacements can each reach back at most one pattern length less one
 * (19 bytes together) across the point where the text changed. */
#define STREAM_HOLD 24

static size_t stable_len(const char *t, size_t n) {
    size_t end = n;
    while (end && t[end - 1] == ' ') end--;
    for (size_t i = end; i >= 5; i--)
        if (!memcmp(t + i - 5, "<unk>", 5)) {
            end = i;
            break;
        }
    end = end > STREAM_HOLD ? end - STREAM_HOLD : 0;
    while (end && ((unsigned char)t[end] & 0xC0) == 0x80) end--; /* whole UTF-8 characters */
    return end;
}

/* Streaming one row on a terminal. */
typedef struct stream_state {
    const sc_tokenizer *tok;
    bool on;          /* printing tokens as they come */
    int32_t *ids;     /* the row so far, from the decoder start token */
    size_t n, cap;
    int32_t *tmp;     /* [cap] ids without pad/eos */
    text_buf text;    /* the row's text now */
    text_buf shown;   /* what has been printed */
    bool diverged;    /* the text stopped extending what was shown: print no more until the end */
    double t_first;   /* when step 0's tokens came (encoder + one decoder step) */
    int64_t steps;    /* decoder steps seen */
} stream_state;

/* Decodes a row as every text output does: pad and eos left out, ids
 * beyond the tokenizer rendered as nothing. */
static sc_status row_text(const sc_tokenizer *tok, const int32_t *ids, size_t n, bool raw, int32_t *tmp,
                          text_buf *out, sc_error *err) {
    size_t k = raw ? n : strip_pad_eos(tok, ids, n, tmp);
    return decode_into(tok, raw ? ids : tmp, k, SC_DECODE_SKIP_UNKNOWN, out, err);
}

static bool stream_push(stream_state *s, int32_t token) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int32_t *ids = realloc(s->ids, cap * sizeof *ids);
        if (!ids) return false;
        s->ids = ids;
        int32_t *tmp = realloc(s->tmp, cap * sizeof *tmp);
        if (!tmp) return false;
        s->tmp = tmp;
        s->cap = cap;
    }
    s->ids[s->n++] = token;
    return true;
}

/* Prints text[shown..upto) when the text still extends what was shown. */
static void stream_show(stream_state *s, size_t upto) {
    if (s->diverged) return;
    if (s->text.n < s->shown.n || (s->shown.n && memcmp(s->text.p, s->shown.p, s->shown.n))) {
        s->diverged = true;
        return;
    }
    if (upto <= s->shown.n) return;
    size_t add = upto - s->shown.n;
    if (!buf_reserve(&s->shown, upto)) {
        s->diverged = true;
        return;
    }
    memcpy(s->shown.p + s->shown.n, s->text.p + s->shown.n, add);
    fwrite(s->text.p + s->shown.n, 1, add, stdout);
    fflush(stdout);
    s->shown.n = upto;
}

static int on_token(void *user, int64_t row, int64_t step, int32_t token) {
    stream_state *s = user;
    (void)row;
    if (step == 0 && s->t_first == 0) s->t_first = sc_clock_seconds();
    if (step + 1 > s->steps) s->steps = step + 1;
    if (!s->on || s->diverged) return 0;
    if (!stream_push(s, token) || row_text(s->tok, s->ids, s->n, false, s->tmp, &s->text, NULL) != SC_OK) {
        s->diverged = true; /* the final text is printed whole at the end */
        return 0;
    }
    stream_show(s, stable_len(s->text.p, s->text.n));
    return 0;
}

/* --stats: one line per sparse layer. */
static void print_expert_stats(FILE *f, const sc_session *s, const sc_model *m) {
    int64_t n = sc_session_expert_stats_count(s);
    if (!n) return;
    fprintf(f, "%-18s %8s %7s %6s %6s %6s %10s  %s\n", "sparse layer", "tokens", "dropped", "hits", "misses",
            "evict", "read MB", "busiest experts (tokens)");
    for (int64_t i = 0; i < n; i++) {
        sc_expert_layer_stats ls;
        if (sc_session_expert_stats(s, i, &ls, NULL)) continue;
        char name[40];
        snprintf(name, sizeof name, "%s.%lld", ls.decoder ? "decoder" : "encoder", (long long)ls.block);
        fprintf(f, "%-18s %8llu %7llu %6llu %6llu %6llu %10.1f ", name, (unsigned long long)ls.tokens,
                (unsigned long long)ls.dropped, (unsigned long long)ls.hits, (unsigned long long)ls.misses,
                (unsigned long long)ls.evictions, (double)ls.bytes_read / 1e6);
        int64_t top[3] = {-1, -1, -1}, used = 0; /* the three busiest experts */
        for (int64_t e = 0; e < ls.n_experts; e++) {
            used += ls.tokens_per_expert[e] > 0;
            for (int k = 0; k < 3; k++)
                if (top[k] < 0 || ls.tokens_per_expert[e] > ls.tokens_per_expert[top[k]]) {
                    for (int j = 2; j > k; j--) top[j] = top[j - 1];
                    top[k] = e;
                    break;
                }
        }
        for (int k = 0; k < 3 && top[k] >= 0 && ls.tokens_per_expert[top[k]]; k++)
            fprintf(f, " %lld(%llu)", (long long)top[k], (unsigned long long)ls.tokens_per_expert[top[k]]);
        fprintf(f, "  [%lld/%lld used]\n", (long long)used, (long long)ls.n_experts);
    }
    fprintf(f, "expert memory: %.1f MB resident, %.1f MB peak\n", (double)sc_model_expert_resident_bytes(m) / 1e6,
            (double)sc_model_expert_peak_bytes(m) / 1e6);
}

/* --stats-json: the expert part of the object (no braces). */
static void write_expert_stats_json(FILE *f, const sc_session *s, const sc_model *m, size_t max_memory) {
    fprintf(f, "\"max_memory\": %zu, \"expert_resident_bytes\": %zu, \"expert_peak_bytes\": %zu, \"sparse_layers\": [",
            max_memory, sc_model_expert_resident_bytes(m), sc_model_expert_peak_bytes(m));
    int64_t n = sc_session_expert_stats_count(s);
    for (int64_t i = 0; i < n; i++) {
        sc_expert_layer_stats ls;
        if (sc_session_expert_stats(s, i, &ls, NULL)) continue;
        fprintf(f, "%s{\"layer\": \"%s.block.%lld\", \"tokens\": %llu, \"dropped\": %llu, \"hits\": %llu, "
                   "\"misses\": %llu, \"evictions\": %llu, \"bytes_read\": %llu, \"tokens_per_expert\": [",
                i ? ", " : "", ls.decoder ? "decoder" : "encoder", (long long)ls.block, (unsigned long long)ls.tokens,
                (unsigned long long)ls.dropped, (unsigned long long)ls.hits, (unsigned long long)ls.misses,
                (unsigned long long)ls.evictions, (unsigned long long)ls.bytes_read);
        for (int64_t e = 0; e < ls.n_experts; e++)
            fprintf(f, e ? ", %llu" : "%llu", (unsigned long long)ls.tokens_per_expert[e]);
        fprintf(f, "]}");
    }
    fprintf(f, "]");
}



/* ---------------------------------------------------------------- input */

/* One prompt: its text and its index in the input (argument or line number
 * from 0), which keys its random stream and names it in messages. */
typedef struct prompt {
    char *text;
    size_t len;
    int64_t index;
    bool blank; /* an empty stdin line: answered with an empty line */
} prompt;

typedef struct prompts {
    prompt *p;
    size_t n, cap;
} prompts;

static bool add_prompt(prompts *p, const char *s, size_t len, int64_t index, bool blank) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        prompt *t = realloc(p->p, cap * sizeof *t);
        if (!t) return false;
        p->p = t;
        p->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return false;
    memcpy(c, s, len);
    c[len] = '\0';
    p->p[p->n++] = (prompt){c, len, index, blank};
    return true;
}

static void clear_prompts(prompts *p) {
    for (size_t i = 0; i < p->n; i++) free(p->p[i].text);
    p->n = 0;
}

/* stdin read with read(2), so that poll(2) tells whether more lines have
 * arrived without waiting for them. */
typedef struct line_reader {
    int fd;
    text_buf b;
    size_t pos; /* start of the first unconsumed byte */
    bool eof;
    int64_t lines; /* lines handed out */
} line_reader;

/* Reads what is there, waiting for it when `wait`: 1 read something (or
 * reached the end), 0 nothing had arrived, -1 a read error (errno). */
static int reader_fill(line_reader *r, bool wait) {
    if (r->eof) return 1;
    struct pollfd pf = {r->fd, POLLIN, 0};
    int pr;
    do pr = poll(&pf, 1, wait ? -1 : 0);
    while (pr < 0 && errno == EINTR);
    if (pr < 0) return -1;
    if (pr == 0) return 0;
    if (r->pos > 0) { /* drop the consumed lines */
        memmove(r->b.p, r->b.p + r->pos, r->b.n - r->pos);
        r->b.n -= r->pos;
        r->pos = 0;
    }
    if (!buf_reserve(&r->b, r->b.n + 65536)) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t got;
    do got = read(r->fd, r->b.p + r->b.n, r->b.cap - r->b.n);
    while (got < 0 && errno == EINTR);
    if (got < 0) return -1;
    if (got == 0) r->eof = true;
    r->b.n += (size_t)got;
    return 1;
}

/* The next whole line (or the unterminated last one at end of input),
 * without its "\n" / "\r\n"; false when none is buffered. */
static bool reader_line(line_reader *r, const char **line, size_t *len) {
    const char *s = r->b.p + r->pos;
    size_t avail = r->b.n - r->pos;
    const char *nl = avail ? memchr(s, '\n', avail) : NULL;
    if (!nl && !(r->eof && avail)) return false;
    size_t n = nl ? (size_t)(nl - s) : avail;
    r->pos += nl ? n + 1 : n;
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    *line = s;
    *len = n;
    r->lines++;
    return true;
}

/* Up to `max` prompts: waits for the first line, then takes whatever other
 * lines have already arrived. Returns 1 with prompts, 0 at the end of input,
 * -1 on an error (said on stderr). */
static int next_stdin_batch(line_reader *r, bool jsonl, int64_t max, prompts *out) {
    while ((int64_t)out->n < max) {
        const char *line;
        size_t n;
        if (!reader_line(r, &line, &n)) {
            if (r->eof) break;
            /* wait only while the batch is empty; else run what has come */
            int got = reader_fill(r, out->n == 0);
            if (got < 0) {
                fprintf(stderr, "switchc generate: reading stdin: %s\n", strerror(errno));
                return -1;
            }
            if (got == 0) break;
            continue;
        }
        int64_t index = r->lines - 1;
        if (n == 0) {
            if (!add_prompt(out, "", 0, index, true)) goto nomem;
            continue;
        }
        if (!jsonl) {
            if (!add_prompt(out, line, n, index, false)) goto nomem;
            continue;
        }
        sc_json_doc *doc;
        sc_error err;
        if (sc_json_parse(line, n, "<stdin>", &doc, &err)) {
            fprintf(stderr, "switchc generate: line %lld: %s\n", (long long)index + 1, err.msg);
            return -1;
        }
        size_t tl;
        const char *t = sc_json_string(sc_json_get(sc_json_root(doc), "text"), &tl);
        bool ok = t && add_prompt(out, t, tl, index, false);
        sc_json_free(doc);
        if (!t) {
            fprintf(stderr, "switchc generate: line %lld: no \"text\" string\n", (long long)index + 1);
            return -1;
        }
        if (!ok) goto nomem;
    }
    return out->n > 0 ? 1 : 0;
nomem:
    fprintf(stderr, "switchc generate: out of memory\n");
    return -1;
}

/* "prompt 3 (\"A <extra_id_0> walks...\")" for messages. */
static const char *prompt_name(const prompt *p, char *buf, size_t cap) {
    size_t n = p->len < 40 ? p->len : 40;
    while (n < p->len && n > 0 && ((unsigned char)p->text[n] & 0xC0) == 0x80) n--;
    char ex[48];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) ex[k++] = (unsigned char)p->text[i] < 0x20 ? ' ' : p->text[i];
    ex[k] = '\0';
    snprintf(buf, cap, "prompt %lld (\"%s%s\")", (long long)p->index, ex, n < p->len ? "..." : "");
    return buf;
}

/* ---------------------------------------------------------------- options */

static const char *const early_names[] = {"true", "false", "never", NULL};
static const sc_early_stopping early_modes[] = {SC_EARLY_STOP_TRUE, SC_EARLY_STOP_HEURISTIC, SC_EARLY_STOP_NEVER};
static const char *const policy_names[] = {"hf4", "zero", "none", NULL};
static const sc_drop_policy policies[] = {SC_DROP_HF4, SC_DROP_ZERO, SC_DROP_NONE};

typedef struct generate_opts {
    const char *model_dir, *revision, *kernels, *stats_json;
    sc_dtype wdtype;
    size_t max_memory;
    bool jsonl, json, raw, print_ids, fill, stats, no_stream, do_sample, no_mmap;
    int64_t threads, batch_size;
    int policy; /* index into policies */
    prompts pr;
    /* Decoding options are applied after the checkpoint's defaults: -2, NAN
     * and -1 (early: an index into early_modes) mean "not given". */
    int64_t max_new, max_len, min_new, min_len, beams, nret, ngram, top_k, seed;
    double lp, rep, temp, top_p;
    int early;
} generate_opts;

static bool take_max_memory(const char *cmd, const char *v, void *field) {
    if (!v) return false;
    if (!strcmp(v, "0")) {
        *(size_t *)field = 0;
        return true;
    }
    if (cli_parse_size(v, field)) return true;
    fprintf(stderr, "switchc %s: --max-memory takes a size like 12G, 512M\n", cmd);
    return false;
}

static int take_prompt(void *vo, const char *arg) {
    generate_opts *o = vo;
    if (add_prompt(&o->pr, arg, strlen(arg), (int64_t)o->pr.n, false)) return ARGS_GO;
    fprintf(stderr, "switchc generate: out of memory\n");
    return SC_EXIT_FAIL;
}

#define AT(field) .off = offsetof(generate_opts, field)
static const args_opt generate_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--jsonl", ARGS_FLAG, AT(jsonl)},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--raw", ARGS_FLAG, AT(raw)},
    {NULL, "--ids", ARGS_FLAG, AT(print_ids)},
    {NULL, "--fill", ARGS_FLAG, AT(fill)},
    {NULL, "--stats", ARGS_FLAG, AT(stats)},
    {NULL, "--stats-json", ARGS_STRING, AT(stats_json)},
    {NULL, "--max-memory", ARGS_CALL, AT(max_memory), .call = take_max_memory},
    {NULL, "--no-stream", ARGS_FLAG, AT(no_stream)},
    {NULL, "--no-mmap", ARGS_FLAG, AT(no_mmap)},
    {NULL, "--do-sample", ARGS_FLAG, AT(do_sample)},
    {NULL, "--batch-size", ARGS_INT, AT(batch_size), .ilo = 1, .ihi = 4096},
    {NULL, "--max-new-tokens", ARGS_INT, AT(max_new), .ilo = 1, .ihi = (1 << 20) - 1},
    {NULL, "--max-length", ARGS_INT, AT(max_len), .ilo = 1, .ihi = 1 << 20},
    {NULL, "--min-new-tokens", ARGS_INT, AT(min_new), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--min-length", ARGS_INT, AT(min_len), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--num-beams", ARGS_INT, AT(beams), .ilo = 1, .ihi = 256},
    {NULL, "--num-return-sequences", ARGS_INT, AT(nret), .ilo = 1, .ihi = 256},
    {NULL, "--no-repeat-ngram-size", ARGS_INT, AT(ngram), .ilo = 0, .ihi = 1 << 20},
    {NULL, "--top-k", ARGS_INT, AT(top_k), .ilo = 0, .ihi = 1 << 30},
    {NULL, "--seed", ARGS_INT, AT(seed), .ilo = 0, .ihi = INT64_MAX},
    {NULL, "--length-penalty", ARGS_DOUBLE, AT(lp), .dlo = -1e6, .dhi = 1e6},
    {NULL, "--repetition-penalty", ARGS_DOUBLE, AT(rep), .dlo = 1e-6, .dhi = 1e6},
    {NULL, "--temperature", ARGS_DOUBLE, AT(temp), .dlo = 1e-6, .dhi = 1e6},
    {NULL, "--top-p", ARGS_DOUBLE, AT(top_p), .dlo = 0.0, .dhi = 1.0},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 256},
    {NULL, "--kernels", ARGS_STRING, AT(kernels)},
    {NULL, "--dtype", ARGS_CALL, AT(wdtype), .call = args_dtype},
    {NULL, "--early-stopping", ARGS_CHOICE, AT(early), .choices = early_names},
    {NULL, "--drop-policy", ARGS_CHOICE, AT(policy), .choices = policy_names},
    {0},
};
#undef AT
static const args_spec generate_args = {
    .cmd = "generate", .usage = usage, .opts = generate_options, .unknown = ARGS_SAY_OPTION_SEE_HELP,
    .pos = ARGS_POS_CALL, .dash = ARGS_DASHED_NOT_LONE, .pos_call = take_prompt,
};

/* ---------------------------------------------------------------- running */

/* Everything one run shares across its batches. */
typedef struct run_ctx {
    const generate_opts *o;
    const sc_tokenizer *tok;
    sc_model *model;
    sc_session *sess;
    sc_generate_params gp; /* the run's decoding settings */
    bool sampling;
    bool tty;
    bool warned_unknown;   /* said once that some ids have no text */
    bool row_failed;       /* some output could not be shown: exit 1 */
    text_buf text, fill;
    int32_t *tmp;
    size_t tmp_cap;
    uint64_t *keys;
    size_t keys_cap;
    stream_state ss;
    /* stats over every batch */
    int64_t n_prompts, max_S, new_tokens, steps_after_first;
    double gen_s, first_token_s, after_first_s;
    int64_t decode_steps;
} run_ctx;

static void warn_unknown(run_ctx *c, const prompt *p, const int32_t *ids, size_t n) {
    if (c->warned_unknown) return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= sc_tokenizer_vocab_size(c->tok)) {
            char name[128];
            fprintf(stderr,
                    "switchc generate: %s: id %d is beyond the tokenizer's %d ids and was left out of the text "
                    "(as Hugging Face's fast tokenizer does; --ids shows every id; said once)\n",
                    prompt_name(p, name, sizeof name), (int)ids[i], (int)sc_tokenizer_vocab_size(c->tok));
            c->warned_unknown = true;
            return;
        }
}

static bool print_fill(run_ctx *c, const prompt *p, const int32_t *ids, size_t n, bool warn, size_t *len_out) {
    sc_error err;
    sc_status st;
    size_t len = 0, missing = 0;
    while ((st = sc_fill_spans(c->tok, p->text, ids, n, c->fill.p, c->fill.cap, &len, &missing, &err)) ==
           SC_ERR_BUFFER_TOO_SMALL)
        if (!buf_reserve(&c->fill, len + 1)) break;
    char name[128];
    if (st != SC_OK) {
        fprintf(stderr, "switchc generate: %s: --fill: %s\n", prompt_name(p, name, sizeof name), err.msg);
        return false;
    }
    if (missing && warn)
        fprintf(stderr, "switchc generate: %s: the output has no span for %zu <extra_id_N> marker%s; kept as "
                        "written\n",
                prompt_name(p, name, sizeof name), missing, missing == 1 ? "" : "s");
    *len_out = len;
    return true;
}

/* Prints the output row `ids[0..len)` of prompt p in the chosen format. */
static void emit_row(run_ctx *c, const prompt *p, const int32_t *ids, int64_t len, const float *score,
                     bool first_of_prompt, bool streamed) {
    const generate_opts *o = c->o;
    sc_error err;
    char name[128];
    /* HF pads finished rows: report ids up to and including eos */
    size_t n = (size_t)len;
    for (size_t i = 1; i < (size_t)len; i++)
        if (ids[i] == sc_tokenizer_eos_id(c->tok)) {
            n = i + 1;
            break;
        }
    if (o->print_ids && !o->json) { /* ids need no decoding */
        for (int64_t i = 0; i < len; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        return;
    }
    size_t fill_len = 0;
    bool filled = o->fill && print_fill(c, p, ids, n, first_of_prompt, &fill_len);
    if (o->fill && !filled) c->row_failed = true;
    if (o->fill && !o->json) {
        printf("%.*s\n", filled ? (int)fill_len : 0, filled ? c->fill.p : "");
        return;
    }
    if ((size_t)len > c->tmp_cap) {
        int32_t *t = realloc(c->tmp, (size_t)len * sizeof *t);
        if (!t) {
            fprintf(stderr, "switchc generate: out of memory\n");
            c->row_failed = true;
            printf("\n");
            return;
        }
        c->tmp = t;
        c->tmp_cap = (size_t)len;
    }
    bool have_text = row_text(c->tok, ids, n, o->raw, c->tmp, &c->text, &err) == SC_OK;
    if (!have_text) { /* one odd row never takes the others down */
        fprintf(stderr, "switchc generate: %s: cannot decode its output: %s\n", prompt_name(p, name, sizeof name),
                err.msg);
        c->row_failed = true;
        c->text.n = 0;
    } else {
        warn_unknown(c, p, ids, n);
    }
    if (o->json) {
        printf("{\"prompt\": ");
        sc_json_write_string(stdout, p->text, p->len);
        printf(", \"text\": ");
        sc_json_write_string(stdout, c->text.p ? c->text.p : "", c->text.n);
        printf(", \"ids\": [");
        for (int64_t i = 0; i < len; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]");
        if (score) printf(", \"score\": %.6g", (double)*score);
        if (o->fill) {
            printf(", \"filled\": ");
            if (filled) sc_json_write_string(stdout, c->fill.p, fill_len);
            else printf("null");
        }
        printf("}\n");
        return;
    }
    if (streamed) {
        stream_state *s = &c->ss;
        bool extends = c->text.n >= s->shown.n && (!s->shown.n || !memcmp(c->text.p, s->shown.p, s->shown.n));
        if (!s->diverged && extends) {
            if (c->text.n > s->shown.n) fwrite(c->text.p + s->shown.n, 1, c->text.n - s->shown.n, stdout);
            printf("\n");
            return;
        }
        /* never expected (stable_len holds back what can change); the
         * whole text then follows on its own line */
        if (s->shown.n) printf("\n");
    }
    printf("%.*s\n", (int)c->text.n, c->text.p ? c->text.p : "");
}

/* An empty stdin line: an empty answer per return sequence. */
static void emit_blank(run_ctx *c, const prompt *p, int64_t per_prompt) {
    for (int64_t j = 0; j < per_prompt; j++) {
        if (c->o->json) {
            printf("{\"prompt\": ");
            sc_json_write_string(stdout, p->text, p->len);
            printf(", \"text\": \"\", \"ids\": []%s}\n", c->o->fill ? ", \"filled\": \"\"" : "");
        } else {
            printf("\n");
        }
    }
}

/* Generates and answers one batch of prompts, in order. false: a failure
 * that ends the run (said on stderr). */
static bool run_batch(run_ctx *c, const prompt *ps, size_t n) {
    const generate_opts *o = c->o;
    const int64_t per_prompt = c->gp.num_beams > 1 ? c->gp.num_return_sequences
                                                   : (c->gp.do_sample ? c->gp.num_return_sequences : 1);
    /* the prompts to run: every one but the blank lines */
    const char **texts = malloc((n ? n : 1) * sizeof *texts);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (texts && lens && n > c->keys_cap) {
        uint64_t *k = realloc(c->keys, n * sizeof *k);
        if (k) {
            c->keys = k;
            c->keys_cap = n;
        }
    }
    if (!texts || !lens || n > c->keys_cap) {
        free(texts);
        free(lens);
        fprintf(stderr, "switchc generate: out of memory\n");
        return false;
    }
    size_t B = 0;
    for (size_t i = 0; i < n; i++)
        if (!ps[i].blank) {
            texts[B] = ps[i].text;
            lens[B] = ps[i].len;
            c->keys[B] = (uint64_t)ps[i].index;
            B++;
        }
    bool ok = true;
    sc_token_batch batch = {0};
    sc_generate_result *res = NULL;
    const int32_t *seq = NULL;
    const float *scores = NULL;
    int64_t rows = 0, len = 0;
    bool stream = false;
    if (B > 0) {
        sc_error err;
        char name[128];
        sc_batch_params bp = sc_batch_default_params();
        if (sc_tokenizer_encode_batch(c->tok, texts, lens, B, &bp, &batch, &err)) {
            fprintf(stderr, "switchc generate: %s%s: %s\n", prompt_name(&ps[0], name, sizeof name),
                    n > 1 ? " and the rest of its batch" : "", err.msg);
            ok = false;
            goto out;
        }
        sc_generate_params gp = c->gp;
        gp.prompt_keys = c->keys;
        stream_state *ss = &c->ss;
        ss->t_first = 0;
        ss->steps = 0;
        ss->n = 0;
        ss->diverged = false;
        ss->shown.n = 0;
        stream = !o->no_stream && !o->json && !o->print_ids && !o->fill && !o->raw && B == 1 && n == 1 &&
                 gp.num_beams == 1 && gp.num_return_sequences == 1 && c->tty;
        ss->on = stream;
        if (stream) {
            int32_t start = gp.decoder_start_token_id == SC_TOKEN_FROM_MODEL ? sc_model_decoder_start_id(c->model)
                                                                            : gp.decoder_start_token_id;
            if (!stream_push(ss, start)) ss->diverged = true;
        }
        if (stream || ((o->stats || o->stats_json) && gp.num_beams == 1)) {
            gp.on_token = on_token;
            gp.user = ss;
        }
        double t0 = sc_clock_seconds();
        if (sc_generate(c->sess, batch.ids, batch.mask, batch.B, batch.S, &gp, &res, &err)) {
            if (stream && ss->shown.n) printf("\n");
            fprintf(stderr, "switchc generate: %s%s: %s\n", prompt_name(&ps[0], name, sizeof name),
                    n > 1 ? " and the rest of its batch" : "", err.msg);
            ok = false;
            goto out;
        }
        double t1 = sc_clock_seconds();
        seq = sc_generate_result_sequences(res, &rows, &len);
        int64_t score_rows = 0;
        scores = sc_generate_result_scores(res, &score_rows);
        if (score_rows != rows) scores = NULL;
        /* stats: generated tokens, pad not counted */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 1; i < len; i++) c->new_tokens += seq[r * len + i] != sc_tokenizer_pad_id(c->tok);
        if (c->n_prompts == 0 && ss->t_first > 0) c->first_token_s = ss->t_first - t0;
        if (ss->t_first > 0 && ss->steps > 1) {
            c->after_first_s += t1 - ss->t_first;
            c->steps_after_first += ss->steps - 1;
        }
        c->decode_steps += ss->steps;
        c->gen_s += t1 - t0;
        c->n_prompts += (int64_t)B;
        if (batch.S > c->max_S) c->max_S = batch.S;
    }
    for (size_t i = 0, b = 0; i < n; i++) {
        if (ps[i].blank) {
            emit_blank(c, &ps[i], per_prompt);
            continue;
        }
        for (int64_t j = 0; j < per_prompt && (int64_t)b * per_prompt + j < rows; j++) {
            int64_t r = (int64_t)b * per_prompt + j;
            emit_row(c, &ps[i], seq + r * len, len, scores ? &scores[r] : NULL, j == 0, stream);
        }
        b++;
    }
out:
    fflush(stdout);
    sc_generate_result_free(res);
    sc_token_batch_free(&batch);
    free(texts);
    free(lens);
    return ok;
}

/* A seed from the OS, as HF/torch draw one when none is set; 63 bits so
 * that --seed can repeat it. */
static bool fresh_seed(uint64_t *out) {
    uint64_t s = 0;
    size_t got = 0;
    while (got < sizeof s) {
        ssize_t k = getrandom((char *)&s + got, sizeof s - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        got += (size_t)k;
    }
    *out = s & (UINT64_MAX >> 1);
    return true;
}

/* --stats-json: the file is checked before any work by creating its
 * temporary sibling, which is renamed over FILE once everything is in. */
typedef struct stats_file {
    char *tmp_path;
    FILE *f;
} stats_file;

static bool stats_file_open(stats_file *sf, const char *path) {
    size_t n = strlen(path);
    sf->tmp_path = malloc(n + sizeof ".tmp-XXXXXX");
    if (!sf->tmp_path) {
        fprintf(stderr, "switchc generate: out of memory\n");
        return false;
    }
    memcpy(sf->tmp_path, path, n);
    memcpy(sf->tmp_path + n, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(sf->tmp_path);
    if (fd < 0) {
        fprintf(stderr, "switchc generate: cannot write --stats-json %s: %s\n", path, strerror(errno));
        free(sf->tmp_path);
        sf->tmp_path = NULL;
        return false;
    }
    /* mkstemp makes 0600; a stats file is as readable as any other output */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    sf->f = fdopen(fd, "w");
    if (!sf->f) {
        fprintf(stderr, "switchc generate: cannot write --stats-json %s: %s\n", path, strerror(errno));
        close(fd);
        unlink(sf->tmp_path);
        free(sf->tmp_path);
        sf->tmp_path = NULL;
        return false;
    }
    return true;
}

/* Drops the temporary file (a failed run leaves FILE as it was). */
static void stats_file_discard(stats_file *sf) {
    if (sf->f) fclose(sf->f);
    if (sf->tmp_path) {
        unlink(sf->tmp_path);
        free(sf->tmp_path);
    }
    sf->f = NULL;
    sf->tmp_path = NULL;
}

static bool stats_file_commit(stats_file *sf, const char *path) {
    FILE *f = sf->f;
    sf->f = NULL;
    bool ok = !ferror(f) && !fflush(f) && !fsync(fileno(f));
    int e = errno;
    ok = !fclose(f) && ok;
    if (!ok || rename(sf->tmp_path, path)) {
        if (ok) e = errno;
        fprintf(stderr, "switchc generate: cannot write --stats-json %s: %s\n", path, strerror(e));
        stats_file_discard(sf);
        return false;
    }
    free(sf->tmp_path);
    sf->tmp_path = NULL;
    return true;
}

int cmd_generate(int argc, char **argv) {
    generate_opts opt = {
        .wdtype = SC_DTYPE_COUNT /* as stored */, .max_new = -2, .max_len = -2, .min_new = -2, .min_len = -2, .beams = -2,
        .nret = -2, .ngram = -2, .top_k = -2, .seed = -2, .lp = NAN, .rep = NAN, .temp = NAN, .top_p = NAN,
        .early = -1, .batch_size = 8,
    };
    prompts batch_pr = {0};
    line_reader rd = {.fd = STDIN_FILENO};
    stats_file sf = {0};
    run_ctx c = {.o = &opt};
    int rc = args_parse(&generate_args, argc, argv, &opt);
    if (rc != ARGS_GO) goto done;
    rc = SC_EXIT_USAGE;
    if (!opt.model_dir) {
        fprintf(stderr, "switchc generate: -m DIR is required (see --help)\n");
        goto done;
    }
    if (opt.jsonl && opt.pr.n) {
        fprintf(stderr, "switchc generate: give PROMPT arguments or --jsonl, not both\n");
        goto done;
    }
    rc = SC_EXIT_FAIL;
    if (!cli_model_resolve("generate", &opt.model_dir, opt.revision)) goto done;
    if (opt.stats_json && cli_is_file_of(opt.stats_json, opt.model_dir)) {
        fprintf(stderr, "switchc generate: --stats-json %s is a file of the model %s: refused (it would be "
                        "replaced by the statistics)\n", opt.stats_json, opt.model_dir);
        goto done;
    }
    if (opt.stats_json && !stats_file_open(&sf, opt.stats_json)) goto done;
    const bool from_stdin = opt.pr.n == 0;
    if (from_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "switchc generate: reading prompts from stdin, one %s a line (end with Ctrl-D)\n",
                opt.jsonl ? "{\"text\": ...} object" : "prompt");

    sc_error err;
    sc_model_params mp = sc_model_default_params();
    mp.n_threads = (int)opt.threads;
    mp.drop_policy = policies[opt.policy];
    mp.kernels = opt.kernels;
    mp.dtype = opt.wdtype;
    mp.max_memory = opt.max_memory;
    mp.no_mmap = opt.no_mmap;
    mp.progress = cli_progress;
    mp.progress_ctx = "reading";
    sc_tokenizer *tok = NULL;
    double t0 = sc_clock_seconds();
    sc_generate_params gp;
    if (sc_tokenizer_load(opt.model_dir, &tok, &err) || sc_model_load(opt.model_dir, &mp, &c.model, &err) ||
        sc_session_new(c.model, &c.sess, &err) || sc_generate_params_from_dir(opt.model_dir, &gp, &err)) {
        fprintf(stderr, "switchc generate: %s\n", err.msg);
        goto cleanup;
    }
    c.tok = tok;
    c.ss.tok = tok;
    double t_load = sc_clock_seconds();
    if (opt.max_new != -2) gp.max_new_tokens = opt.max_new;
    if (opt.max_len != -2) {
        gp.max_length = opt.max_len;
        if (opt.max_new == -2) gp.max_new_tokens = -1;
    }
    if (opt.min_new != -2) gp.min_new_tokens = opt.min_new;
    if (opt.min_len != -2) gp.min_length = opt.min_len;
    if (opt.beams != -2) gp.num_beams = opt.beams;
    if (opt.nret != -2) gp.num_return_sequences = opt.nret;
    if (opt.ngram != -2) gp.no_repeat_ngram_size = opt.ngram;
    if (opt.top_k != -2) gp.top_k = opt.top_k;
    if (!isnan(opt.lp)) gp.length_penalty = opt.lp;
    if (!isnan(opt.rep)) gp.repetition_penalty = opt.rep;
    if (!isnan(opt.temp)) gp.temperature = opt.temp;
    if (!isnan(opt.top_p)) gp.top_p = opt.top_p;
    if (opt.do_sample) gp.do_sample = true;
    if (opt.early >= 0) gp.early_stopping = early_modes[opt.early];
    c.sampling = gp.do_sample;
    if (opt.seed != -2) {
        gp.seed = (uint64_t)opt.seed;
    } else if (gp.do_sample && !fresh_seed(&gp.seed)) {
        fprintf(stderr, "switchc generate: cannot draw a random seed (%s); give --seed N\n", strerror(errno));
        goto cleanup;
    }
    c.gp = gp;
    c.tty = isatty(STDOUT_FILENO);

    if (!from_stdin) {
        for (size_t i = 0; i < opt.pr.n; i += (size_t)opt.batch_size) {
            size_t k = opt.pr.n - i < (size_t)opt.batch_size ? opt.pr.n - i : (size_t)opt.batch_size;
            if (!run_batch(&c, opt.pr.p + i, k)) goto cleanup;
        }
    } else {
        for (;;) {
            int got = next_stdin_batch(&rd, opt.jsonl, opt.batch_size, &batch_pr);
            /* lines read before an error are still answered */
            if (batch_pr.n && !run_batch(&c, batch_pr.p, batch_pr.n)) goto cleanup;
            clear_prompts(&batch_pr);
            if (got < 0) goto cleanup;
            if (got == 0) break;
        }
        if (rd.lines == 0) {
            fprintf(stderr, "switchc generate: no prompt given\n");
            rc = SC_EXIT_USAGE;
            goto cleanup;
        }
    }

    const double gen = c.gen_s;
    const bool timed = c.steps_after_first > 0;
    if (opt.stats) {
        fprintf(stderr, "load %.3f s; prompts %lld x %lld tokens; generated %lld tokens in %.3f s (%.1f tok/s)\n",
                t_load - t0, (long long)c.n_prompts, (long long)c.max_S, (long long)c.new_tokens, gen,
                gen > 0 ? (double)c.new_tokens / gen : 0.0);
        if (timed)
            fprintf(stderr, "first token after %.3f s (encoder + 1 step); then %.2f ms per step (%lld row%s)\n",
                    c.first_token_s, 1e3 * c.after_first_s / (double)c.steps_after_first,
                    (long long)(opt.batch_size < c.n_prompts ? opt.batch_size : c.n_prompts),
                    c.n_prompts == 1 ? "" : "s");
        if (c.sampling)
            fprintf(stderr, "sampling seed %llu (--seed %llu repeats this run)\n", (unsigned long long)gp.seed,
                    (unsigned long long)gp.seed);
        print_expert_stats(stderr, c.sess, c.model);
    }
    if (opt.stats_json) {
        FILE *jf = sf.f;
        fprintf(jf, "{\"load_s\": %.6f, \"generate_s\": %.6f, \"prompts\": %lld, \"prompt_tokens\": %lld, "
                    "\"new_tokens\": %lld, \"tokens_per_s\": %.3f, ",
                t_load - t0, gen, (long long)c.n_prompts, (long long)c.max_S, (long long)c.new_tokens,
                gen > 0 ? (double)c.new_tokens / gen : 0.0);
        /* decode timing: greedy and sampling only (beam search reports no steps) */
        if (timed)
            fprintf(jf, "\"first_token_s\": %.6f, \"decode_steps\": %lld, \"decode_ms_per_step\": %.4f, ",
                    c.first_token_s, (long long)c.decode_steps, 1e3 * c.after_first_s / (double)c.steps_after_first);
        else
            fprintf(jf, "\"first_token_s\": null, \"decode_steps\": null, \"decode_ms_per_step\": null, ");
        if (c.sampling) fprintf(jf, "\"seed\": %llu, ", (unsigned long long)gp.seed);
        else fprintf(jf, "\"seed\": null, ");
        write_expert_stats_json(jf, c.sess, c.model, opt.max_memory);
        fprintf(jf, "}\n");
        if (!stats_file_commit(&sf, opt.stats_json)) goto cleanup;
    }
    rc = c.row_failed ? SC_EXIT_FAIL : SC_EXIT_OK;
cleanup:
    free(c.text.p);
    free(c.fill.p);
    free(c.tmp);
    free(c.keys);
    free(c.ss.ids);
    free(c.ss.tmp);
    free(c.ss.text.p);
    free(c.ss.shown.p);
    sc_session_free(c.sess);
    sc_model_free(c.model);
    sc_tokenizer_free(tok);
done:
    stats_file_discard(&sf);
    clear_prompts(&batch_pr);
    free(batch_pr.p);
    free(rd.b.p);
    clear_prompts(&opt.pr);
    free(opt.pr.p);
    return rc;
}
