// GLUE fine-tuning and evaluation of an encoder checkpoint (BERT's recipe, Devlin et al. 2019):
// [CLS] A [SEP] (B [SEP]) with segment ids, max_len 128, pooled [CLS] head; AdamW (0.9, 0.999),
// eps 1e-6, weight decay 0.01 on matrices, linear warmup over 10% of the steps then linear decay
// to 0; cross-entropy (classification) or MSE (STS-B). Batches are padded to their longest member
// only (dynamic padding) and padded keys are masked in attention.
// A fine-tuned model is saved as OUT/checkpoint (model.safetensors, config.toml of the backbone, state.json
// holding the task) plus OUT/tokenizer, and reloads with load_glue_model (lmforge advglue uses it).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmforge/data/glue.h"
#include "lmforge/data/glue_encode.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/eval/glue_finetune_options.h"
#include "lmforge/eval/glue_metrics.h"
#include "lmforge/models/sequence_classifier.h"

namespace lmforge {

struct GlueModel {
  std::shared_ptr<SequenceClassifier> model;
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::string task;
  int64_t max_len = 128;
};

// Predictions of a model on encoded examples: class ids (classification) or scores (regression).
std::vector<int64_t> predict_classes(SequenceClassifier& m, const std::vector<EncodedExample>& xs, int64_t batch_size);
std::vector<double> predict_scores(SequenceClassifier& m, const std::vector<EncodedExample>& xs, int64_t batch_size);

// What a fine-tuning run cost (for comparing optimisers and adapters).
struct GlueTrainStats {
  int64_t trainable_parameters = 0;
  int64_t optimizer_state_bytes = 0;  // after the last step
  int64_t tokens = 0;                 // real tokens read in training
  double seconds = 0;                 // in the training loop
};

// Fine-tunes the encoder in `checkpoint` (a run directory of lmforge pretrain/train) on task's
// train.tsv in data_dir/<task dir>, evaluates every dev file (MNLI: MNLI-m and MNLI-mm) and returns
// the metrics by result name. out_dir (optional) receives the fine-tuned model; predict_dir
// (optional) the test predictions in the GLUE submission format.
std::map<std::string, eval::MetricList> finetune_glue(const data::GlueTask& task, const std::string& checkpoint,
                                                      const std::string& data_dir, const GlueFinetuneOptions& o,
                                                      const std::string& out_dir, const std::string& predict_dir,
                                                      GlueTrainStats* stats = nullptr);

// Writes a leaderboard file: header `index\tprediction`, one row per test example; labels as the
// task's label names (entailment, ...) for MNLI/QNLI/RTE/AX, integers for the 0/1 tasks, floats
// clipped to [0, 5] for STS-B.
void write_glue_submission(const data::GlueTask& task, const std::string& path, const std::vector<EncodedExample>& xs,
                           const std::vector<int64_t>& classes, const std::vector<double>& scores);

// Loads a model saved by finetune_glue.
GlueModel load_glue_model(const std::string& dir, const std::string& device);

}  // namespace lmforge
