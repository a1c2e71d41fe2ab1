// The sliding-window perplexity protocol (fairseq eval-lm's context window; HF's strided
// evaluation). The token stream is [eos] + the file's tokens, so every token of the file,
// the first included, is a target. With window length C and stride S (1 <= S <= C):
//   window k feeds stream[lo, hi) to the model (hi - lo <= C) and scores only its last targets,
//   those not scored by an earlier window; each new window moves hi forward by S.
// So every target is scored exactly once, with at least C - S (and at most C - 1) tokens of
// context once the first window is past. S = C gives disjoint windows (the worst case); S = 1 is
// the exact one-token-at-a-time sliding window.
#pragma once
#include <cstdint>
#include <vector>

namespace lmforge {

struct Window {
  int64_t lo;     // first input position in the stream
  int64_t hi;     // one past the last input position; targets are stream[lo+1 .. hi]
  int64_t first;  // first target position scored by this window (targets first .. hi)
};

// Windows covering targets 1..n_targets of a stream of n_targets + 1 tokens.
std::vector<Window> sliding_windows(int64_t n_targets, int64_t context, int64_t stride);

}  // namespace lmforge
