// Throughput of the SentencePiece C++ library on a corpus (for comparison
// with bench/bench_tokenizer.c): EncodeAsIds per line, best of N passes.
// Usage: xcheck_bench_sentencepiece SPIECE_MODEL CORPUS [PASSES]  -> JSON
#include <sentencepiece_processor.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s SPIECE_MODEL CORPUS [PASSES]\n", argv[0]);
        return 2;
    }
    sentencepiece::SentencePieceProcessor sp;
    if (!sp.Load(argv[1]).ok()) return 1;
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<std::string> lines;
    std::string l;
    size_t bytes = 0;
    while (std::getline(in, l)) {
        bytes += l.size();
        lines.push_back(l);
    }
    int passes = argc > 3 ? std::atoi(argv[3]) : 3;
    double best = 1e30;
    size_t tokens = 0;
    std::vector<int> ids;
    for (int p = 0; p < passes; p++) {
        auto t0 = std::chrono::steady_clock::now();
        tokens = 0;
        for (const auto &s : lines) {
            sp.Encode(s, &ids);
            tokens += ids.size();
        }
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (dt < best) best = dt;
    }
    std::printf("{\"impl\": \"sentencepiece\", \"lines\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
                "\"seconds\": %.6f, \"mb_per_s\": %.3f, \"tokens_per_s\": %.0f}\n",
                lines.size(), bytes, tokens, best, bytes / best / 1e6, tokens / best);
    return 0;
}
