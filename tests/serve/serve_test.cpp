// `lmforge serve` end to end over loopback: the server runs as a child process (as users run it)
// on a free port (--port 0, read from its first line), and the tests talk to it with httplib's
// client. A tiny byte-level model is trained once for the suite (byte tokens decode by plain
// concatenation, so texts compare exactly with `lmforge generate`).
// Checked: /v1/models; the summed echo log-probabilities equal eval-lm's total NLL on the same
// text; batched scoring (padded rows) equals one-prompt scoring; greedy completion equals
// `lmforge generate`; malformed requests get 4xx with a message; a load test loses no request;
// SIGTERM stops the server with exit code 0. No timing is asserted.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"

namespace lmforge {
namespace {

using nlohmann::json;
using test::run_lmforge;
using test::TempDir;

const char* kCorpus =
    " the cat sat on the mat . \n"
    " the dog sat on the rug . \n"
    " a cat and a dog . \n";

// The lmforge binary running `serve ARGS`, stopped (SIGTERM) when the object dies.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const std::string& log) : log_(log) {
    std::vector<std::string> argv = {LMFORGE_BINARY, "serve", "--port", "0", "--threads", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    // Its first line names the port once it accepts connections.
    const std::regex re("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::smatch m;
      const std::string out = test::read_text(log);
      if (std::regex_search(out, m, re)) port_ = std::stoi(m[1]);
      else if (::waitpid(pid_, &status_, WNOHANG) == pid_) { pid_ = -1; break; }
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~ServerProcess() { stop(); }
  int port() const { return port_; }
  std::string output() const { return test::read_text(log_); }
  // SIGTERM, then the exit code (-1 when it did not exit by itself within 60 s).
  int stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 600; ++i) {
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (i == 599) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status_, 0);
          status_ = -1;
        }
      }
      pid_ = -1;
    }
    return status_ != -1 && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0, status_ = -1;
};

struct Reply {
  int status = 0;  // 0: no HTTP reply at all (connection failed)
  json body;
  std::string error;  // httplib's reason when status is 0
};

Reply post(int port, const std::string& path, const std::string& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  auto res = c.Post(path.c_str(), body, "application/json");
  Reply r;
  if (!res) {
    r.error = httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

Reply complete(int port, const json& req) { return post(port, "/v1/completions", req.dump()); }

class Serve : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("serve");
    test::write_text(*dir_ / "train.txt", std::string(kCorpus) + kCorpus + kCorpus);
    auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + *dir_ / "train.txt" +
                         " --set data.tokenizer.kind=byte --set train.seq_len=32 --set train.steps=30" +
                         " --set data.cache_dir=" + *dir_ / "cache" + " --set run.threads=1 --out " + *dir_ / "run");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string run() { return *dir_ / "run"; }
  static TempDir* dir_;
};
TempDir* Serve::dir_ = nullptr;

TEST_F(Serve, ModelsListsTheRun) {
  ServerProcess s({"--checkpoint", run()}, *dir_ / "models.log");
  ASSERT_GT(s.port(), 0) << s.output();
  httplib::Client c("127.0.0.1", s.port());
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "run");
  // The tokenizer endpoints lm-evaluation-harness's remote tokenizer reads.
  auto info = c.Get("/tokenizer_info");
  ASSERT_TRUE(info);
  EXPECT_EQ(json::parse(info->body)["eos_token"], "\n");
  Reply tk = post(s.port(), "/tokenize", R"({"prompt": "ab\n", "add_special_tokens": false})");
  ASSERT_EQ(tk.status, 200) << tk.body;
  ASSERT_EQ(tk.body["tokens"].size(), 3u);  // two bytes, then the end of line
  Reply nl = post(s.port(), "/tokenize", R"({"prompt": "\n"})");
  EXPECT_EQ(nl.body["tokens"][0], tk.body["tokens"][2]);
  Reply dt = post(s.port(), "/detokenize", json{{"tokens", tk.body["tokens"]}}.dump());
  EXPECT_EQ(dt.body["prompt"], "ab\n");
  EXPECT_EQ(post(s.port(), "/detokenize", R"({"tokens": [-1]})").status, 400);
  // A second server on the same port is refused with a message, not silently bound beside it.
  auto again = run_lmforge("serve --threads 1 --checkpoint " + run() + " --port " + std::to_string(s.port()));
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("cannot listen on 127.0.0.1:" + std::to_string(s.port())), std::string::npos) << again.output;
  EXPECT_EQ(s.stop(), 0) << s.output();  // SIGTERM: a clean exit
}

// lm-evaluation-harness's loglikelihood request (echo, logprobs 1, temperature 0) and eval-lm
// score the same tokens: eval-lm's stream is [eos] + the file's bytes + eos per line, so the
// prompt "\n" + text has exactly its targets after the first (null) token.
TEST_F(Serve, EchoLogprobsSumToEvalLmNll) {
  const std::string text = " the cat sat on the rug . \n a dog . \n";
  test::write_text(*dir_ / "score.txt", text);
  auto e = run_lmforge("eval-lm --threads 1 --checkpoint " + run() + " --data " + *dir_ / "score.txt" +
                       " --json --context 64 --stride 64 --precision fp32 --cache-dir " + *dir_ / "evcache");
  ASSERT_EQ(e.code, 0) << e.output;
  json ev = json::parse(e.output.substr(e.output.find('{')));
  ServerProcess s({"--checkpoint", run(), "--precision", "fp32"}, *dir_ / "echo.log");
  ASSERT_GT(s.port(), 0) << s.output();
  for (int max_tokens : {0, 1}) {  // older harnesses send 0, current ones 1 (and drop the last)
    SCOPED_TRACE(testing::Message() << "max_tokens " << max_tokens);
    Reply r = complete(s.port(), {{"model", "run"}, {"prompt", "\n" + text}, {"echo", true}, {"logprobs", 1},
                                  {"max_tokens", max_tokens}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json& lp = r.body["choices"][0]["logprobs"];
    const int64_t n = ev["tokens"].get<int64_t>() + 1;  // + the leading eos
    ASSERT_EQ(static_cast<int64_t>(lp["token_logprobs"].size()), n + max_tokens);
    EXPECT_TRUE(lp["token_logprobs"][0].is_null());
    EXPECT_TRUE(lp["top_logprobs"][0].is_null());
    double sum = 0;
    for (int64_t t = 1; t < n; ++t) {
      const double v = lp["token_logprobs"][t].get<double>();
      sum += v;
      // is_greedy as the harness computes it: the token's value against the best alternative's.
      double best = -1e30;
      for (auto& [k, x] : lp["top_logprobs"][t].items()) best = std::max(best, x.get<double>());
      EXPECT_LE(v, best);
    }
    const double nll = ev["nll"].get<double>();
    EXPECT_NEAR(-sum, nll, 1e-4 * std::abs(nll)) << r.body;
    EXPECT_EQ(r.body["choices"][0]["text"].get<std::string>().substr(0, text.size() + 1), "\n" + text);
    EXPECT_EQ(r.body["usage"]["prompt_tokens"].get<int64_t>(), n);
    EXPECT_EQ(r.body["usage"]["completion_tokens"].get<int64_t>(), max_tokens);
  }
}

// Prompts of different lengths scored in one padded forward give what each gives alone.
TEST_F(Serve, BatchedScoringEqualsSingle) {
  ServerProcess s({"--checkpoint", run(), "--max-batch", "4"}, *dir_ / "batch.log");
  ASSERT_GT(s.port(), 0) << s.output();
  const std::vector<std::string> prompts = {" the cat sat", " a dog .\n the dog sat on the rug", "\n a"};
  json base = {{"echo", true}, {"logprobs", 2}, {"max_tokens", 0}};
  json many = base;
  many["prompt"] = prompts;
  Reply all = complete(s.port(), many);
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.body["choices"].size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    json one = base;
    one["prompt"] = prompts[i];
    Reply r = complete(s.port(), one);
    ASSERT_EQ(r.status, 200) << r.body;
    const json& a = all.body["choices"][i]["logprobs"]["token_logprobs"];
    const json& b = r.body["choices"][0]["logprobs"]["token_logprobs"];
    ASSERT_EQ(a.size(), b.size());
    for (size_t t = 1; t < a.size(); ++t) EXPECT_NEAR(a[t].get<double>(), b[t].get<double>(), 1e-5) << i << ":" << t;
    EXPECT_EQ(all.body["choices"][i]["index"], i);
  }
}

TEST_F(Serve, GreedyCompletionEqualsGenerate) {
  const std::string prompt = " the dog";
  auto g = run_lmforge("generate --threads 1 --checkpoint " + run() + " --prompt '" + prompt + "' --max-new 12 --json");
  ASSERT_EQ(g.code, 0) << g.output;
  json gj = json::parse(g.output.substr(g.output.find('{')));
  ServerProcess s({"--checkpoint", run()}, *dir_ / "greedy.log");
  ASSERT_GT(s.port(), 0) << s.output();
  Reply r = complete(s.port(), {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"logprobs", 1}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["choices"][0]["text"], gj["completion"]);
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.body["choices"][0]["logprobs"]["tokens"].size(), 12u);
  // A stop sequence cuts the text before it.
  const std::string full = gj["completion"].get<std::string>();
  const std::string stop = full.substr(4, 2);
  Reply st = complete(s.port(), {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"stop", {stop}}});
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.body["choices"][0]["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(st.body["choices"][0]["finish_reason"], "stop");
  // Sampling with a seed is reproducible.
  json sample = {{"prompt", prompt}, {"max_tokens", 8}, {"temperature", 1.0}, {"top_p", 0.9}, {"seed", 7}};
  EXPECT_EQ(complete(s.port(), sample).body["choices"][0]["text"], complete(s.port(), sample).body["choices"][0]["text"]);
}

TEST_F(Serve, BadRequestsGetErrorsNotCrashes) {
  ServerProcess s({"--checkpoint", run(), "--max-body-bytes", "4096"}, *dir_ / "errors.log");
  ASSERT_GT(s.port(), 0) << s.output();
  auto expect_error = [&](const std::string& body, int status, const std::string& says) {
    SCOPED_TRACE(body.substr(0, 60));
    Reply r = post(s.port(), "/v1/completions", body);
    EXPECT_EQ(r.status, status) << r.body;
    ASSERT_TRUE(r.body.contains("error")) << r.body;
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(says), std::string::npos) << r.body;
  };
  expect_error("{\"prompt\": \"x\",", 400, "not valid JSON");
  expect_error("", 400, "not valid JSON");
  expect_error("[1, 2]", 400, "JSON object");
  expect_error("{\"max_tokens\": 3}", 400, "'prompt' is required");
  expect_error("{\"prompt\": \"x\", \"n\": 2}", 400, "n = 1");
  expect_error("{\"prompt\": \"x\", \"max_tokens\": \"many\"}", 400, "'max_tokens' must be an integer");
  expect_error("{\"prompt\": \"x\", \"temperature\": -1}", 400, "temperature");
  expect_error("{\"prompt\": \"x\", \"logprobs\": 9}", 400, "logprobs");
  expect_error("{\"prompt\": [1, \"a\"]}", 400, "prompt");
  expect_error("{\"prompt\": [100000]}", 400, "outside the vocabulary");
  expect_error("{\"prompt\": \"x\", \"model\": \"other\"}", 404, "does not exist");
  expect_error("{\"prompt\": \"x\", \"stream\": true}", 400, "stream");
  // 60 bytes + 16 new tokens > the model's 64: the message names both lengths.
  json longer = {{"prompt", std::string(60, 'a')}};
  expect_error(longer.dump(), 400, "maximum context length is 64 tokens, however you requested 76 tokens (60 in your prompt; 16 for the completion)");
  expect_error(std::string(5000, ' '), 413, "too large");
  Reply unknown = post(s.port(), "/v2/nothing", "{}");
  EXPECT_EQ(unknown.status, 404);
  // Unknown fields are ignored, as OpenAI does; the server still answers.
  Reply ok = complete(s.port(), {{"prompt", "x"}, {"max_tokens", 2}, {"frequency_penalty", 0}, {"user", "me"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(s.stop(), 0) << s.output();
}

// 16 clients for ~3 s. With a queue longer than the clients, every request is answered 200; with
// a queue of one, each is a 200 or a 503 ("retry"). Never lost, never another status.
void load(const std::vector<std::string>& args, const std::string& log, bool all_ok) {
  ServerProcess s(args, log);
  ASSERT_GT(s.port(), 0) << s.output();
  std::atomic<int64_t> sent{0}, ok{0}, busy{0}, other{0};
  std::string first_other;
  std::mutex mu;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
        json req = (i + c) % 2 ? json{{"prompt", " the cat"}, {"max_tokens", 4}, {"temperature", 0}}
                               : json{{"prompt", "\n a dog sat"}, {"echo", true}, {"logprobs", 1}, {"max_tokens", 0}};
        ++sent;
        Reply r = complete(s.port(), req);
        if (r.status == 200 && r.body.contains("choices") && r.body["choices"].size() == 1) ++ok;
        else if (r.status == 503 && r.body.contains("error")) {
          ++busy;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a client's back-off before retrying
        } else {
          ++other;
          std::lock_guard<std::mutex> lk(mu);
          if (first_other.empty()) first_other = std::to_string(r.status) + " " + r.body.dump() + " " + r.error;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0) << first_other;
  EXPECT_EQ(ok + busy, sent);
  if (all_ok) {
    EXPECT_EQ(ok.load(), sent.load());
  }
  std::printf("[ load ] %lld requests: %lld ok, %lld busy (503)\n", static_cast<long long>(sent.load()),
              static_cast<long long>(ok.load()), static_cast<long long>(busy.load()));
  // Still serving afterwards, and stops cleanly.
  EXPECT_EQ(complete(s.port(), {{"prompt", "x"}, {"max_tokens", 1}}).status, 200);
  EXPECT_EQ(s.stop(), 0) << s.output();
  std::printf("[ load ] server: %s", s.output().substr(s.output().rfind("lmforge serve:")).c_str());
}

TEST_F(Serve, LoadTestLosesNoRequest) {
  load({"--checkpoint", run(), "--queue-size", "64", "--max-batch", "8", "--http-threads", "32"}, *dir_ / "load.log", true);
}

TEST_F(Serve, FullQueueAnswersBusy) {
  load({"--checkpoint", run(), "--queue-size", "1", "--max-batch", "1", "--http-threads", "32"}, *dir_ / "busy.log", false);
}

}  // namespace
}  // namespace lmforge
