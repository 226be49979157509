// Cross-check of switchc's tokenizer against the SentencePiece C++ library,
// line by line over text files:
//  1. plain SentencePiece (no T5 layer): our normalizer + unigram pieces and
//     ids vs SentencePieceProcessor::Encode;
//  2. plain decode: our DecodePieces vs DecodeIds on those ids;
//  3. the T5 layer: sc_tokenizer_encode vs HF's legacy T5Tokenizer recipe
//     rebuilt here on the library (split on added tokens, strip around
//     sentinels, EncodeAsPieces per chunk, PieceToId, </s> appended).
// Usage: xcheck_sentencepiece SPIECE_MODEL FILE...  (exit 1 on any mismatch)
#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "switchc.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer_internal.h"
}

namespace {

// Python str.isspace() code points.
bool py_space(unsigned c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the code points of valid UTF-8 (the corpus lines given to the T5
// check are valid; Python text always is).
bool utf8_cps(const std::string &s, std::vector<unsigned> *cps, std::vector<size_t> *starts) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!n || i + n > s.size()) return false;
        unsigned cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        starts->push_back(i);
        cps->push_back(cp);
        i += n;
    }
    starts->push_back(s.size());
    return true;
}

std::string strip(const std::string &s, bool left, bool right) {
    std::vector<unsigned> cps;
    std::vector<size_t> st;
    if (!utf8_cps(s, &cps, &st)) return s;
    size_t a = 0, b = cps.size();
    if (left)
        while (a < b && py_space(cps[a])) a++;
    if (right)
        while (b > a && py_space(cps[b - 1])) b--;
    return s.substr(st[a], st[b] - st[a]);
}

struct Added {
    std::string s;
    int id;
    bool strip;
};

// HF T5Tokenizer(legacy) input ids for one text, on the library.
std::vector<int> hf_ids(const sentencepiece::SentencePieceProcessor &sp, const std::vector<Added> &added,
                        const std::string &text) {
    std::vector<std::string> chunks;
    std::vector<int> kind;  // -1 text, else index in added
    size_t start = 0, i = 0;
    while (i < text.size()) {
        int hit = -1;
        if (text[i] == '<')
            for (size_t k = 0; k < added.size(); k++)
                if (text.compare(i, added[k].s.size(), added[k].s) == 0) {
                    hit = (int)k;
                    break;
                }
        if (hit < 0) {
            i++;
            continue;
        }
        chunks.push_back(text.substr(start, i - start));
        kind.push_back(-1);
        chunks.push_back(added[hit].s);
        kind.push_back(hit);
        i += added[hit].s.size();
        start = i;
    }
    chunks.push_back(text.substr(start));
    kind.push_back(-1);
    for (size_t c = 0; c < chunks.size(); c++) {
        if (kind[c] < 0 || !added[kind[c]].strip) continue;
        if (c + 1 < chunks.size() && kind[c + 1] < 0) chunks[c + 1] = strip(chunks[c + 1], true, false);
        if (c > 0 && kind[c - 1] < 0) chunks[c - 1] = strip(chunks[c - 1], false, true);
    }
    std::vector<int> ids;
    for (size_t c = 0; c < chunks.size(); c++) {
        if (chunks[c].empty()) continue;
        if (kind[c] >= 0) {
            ids.push_back(added[kind[c]].id);
            continue;
        }
        std::vector<std::string> pieces;
        sp.Encode(chunks[c], &pieces);
        for (const auto &p : pieces) ids.push_back(sp.PieceToId(p));
    }
    if (ids.empty() || ids.back() != 1) ids.push_back(1);
    return ids;
}

std::string show(const std::vector<int> &v) {
    std::string s;
    for (int x : v) s += " " + std::to_string(x);
    return s;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s SPIECE_MODEL FILE...\n", argv[0]);
        return 2;
    }
    sentencepiece::SentencePieceProcessor sp;
    if (!sp.Load(argv[1]).ok()) {
        std::fprintf(stderr, "cannot load %s with SentencePiece\n", argv[1]);
        return 1;
    }
    sc_tokenizer *tok = nullptr;
    sc_error err;
    if (sc_tokenizer_load(argv[1], &tok, &err)) {
        std::fprintf(stderr, "switchc: %s\n", err.msg);
        return 1;
    }
    const sp_model *m = &tok->sp;
    std::vector<Added> added = {{"</s>", 1, false}, {"<pad>", 0, false}, {"<unk>", 2, false}};
    for (int k = 0; k < tok->extra_ids; k++)
        added.push_back({"<extra_id_" + std::to_string(k) + ">", tok->vocab - 1 - k, true});

    long lines = 0, ok_plain = 0, ok_decode = 0, ok_t5 = 0, t5_lines = 0, shown = 0;
    sp_buf norm = {nullptr, 0, 0}, dec = {nullptr, 0, 0};
    for (int f = 2; f < argc; f++) {
        std::ifstream in(argv[f], std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "cannot read %s\n", argv[f]);
            return 1;
        }
        std::string line;
        while (std::getline(in, line)) {
            lines++;
            // 1. plain pieces and ids
            sentencepiece::ImmutableSentencePieceText spt;
            sp.Encode(line, spt.mutable_proto());
            sp_normalize(m, line.data(), line.size(), &norm);
            sp_piece_ref *refs = nullptr;
            size_t nr = 0;
            sp_encode_normalized(m, norm.p, norm.n, &refs, &nr);
            bool same = nr == spt.pieces_size();
            for (size_t i = 0; same && i < nr; i++) {
                const auto &q = spt.pieces((int)i);
                same = (int)refs[i].id == (int)q.id() && q.piece().size() == refs[i].len &&
                       !std::memcmp(q.piece().data(), norm.p + refs[i].off, refs[i].len);
            }
            ok_plain += same;
            if (!same && shown++ < 10) {
                std::string ours;
                for (size_t i = 0; i < nr; i++) ours += " " + std::to_string(refs[i].id);
                std::string theirs;
                for (const auto &q : spt.pieces()) theirs += " " + std::to_string(q.id());
                std::fprintf(stderr, "%s:%ld plain mismatch\n  text: %s\n  ours:%s\n  spm: %s\n", argv[f],
                             lines, line.c_str(), ours.c_str(), theirs.c_str());
            }
            // 2. decode of the library's ids
            std::vector<int> ids;
            for (const auto &q : spt.pieces()) ids.push_back((int)q.id());
            std::string want;
            sp.Decode(ids, &want);
            std::vector<const char *> pp;
            std::vector<size_t> pl;
            std::vector<int32_t> pid;
            for (int id : ids) {
                pp.push_back(m->blob + m->off[id]);
                pl.push_back(m->len[id]);
                pid.push_back(id);
            }
            dec.n = 0;
            sp_decode_pieces(m, pp.data(), pl.data(), pid.data(), ids.size(), &dec);
            bool dsame = dec.n == want.size() && !std::memcmp(dec.p, want.data(), dec.n);
            ok_decode += dsame;
            if (!dsame && shown++ < 10)
                std::fprintf(stderr, "%s:%ld decode mismatch\n  ours: %.*s\n  spm:  %s\n", argv[f], lines,
                             (int)dec.n, dec.p, want.c_str());
            free(refs);
            // 3. the T5 layer (HF works on Python text, so only valid UTF-8 lines)
            std::vector<unsigned> cps;
            std::vector<size_t> st;
            if (!utf8_cps(line, &cps, &st)) continue;
            t5_lines++;
            std::vector<int> want_ids = hf_ids(sp, added, line);
            std::vector<int32_t> got(line.size() * 2 + 8);
            size_t n = 0;
            sc_status s = sc_tokenizer_encode(tok, line.data(), line.size(), true, got.data(), got.size(), &n, &err);
            got.resize(s == SC_OK ? n : 0);
            bool tsame = std::vector<int>(got.begin(), got.end()) == want_ids;
            ok_t5 += tsame;
            if (!tsame && shown++ < 10)
                std::fprintf(stderr, "%s:%ld T5 mismatch\n  text: %s\n  ours:%s\n  want:%s\n", argv[f], lines,
                             line.c_str(), show(std::vector<int>(got.begin(), got.end())).c_str(),
                             show(want_ids).c_str());
        }
    }
    sp_buf_free(&norm);
    sp_buf_free(&dec);
    sc_tokenizer_free(tok);
    std::printf("lines: %ld\nplain SentencePiece pieces+ids agree: %ld/%ld\nplain decode agrees: %ld/%ld\n"
                "T5 ids agree: %ld/%ld\n",
                lines, ok_plain, lines, ok_decode, lines, ok_t5, t5_lines);
    bool all = ok_plain == lines && ok_decode == lines && ok_t5 == t5_lines;
    std::printf("%s\n", all ? "100% agreement" : "MISMATCHES");
    return all ? 0 : 1;
}
