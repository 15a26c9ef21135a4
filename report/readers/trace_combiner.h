// `viztrace combine`: merges Chrome traces into one report (object form), two streaming passes
// per input. The first finds each input's pids and first timestamp; the second copies every
// event's own text, rewriting only what must change: a pid that an earlier input already uses
// becomes the first free pid + k*10,000,000 (its main-thread tid with it), --align moves each
// input to start at 0, and an event without tid gets its pid as tid (as viewers assume).
// Each process gets one process_labels metadata event naming its file and original pid (the
// labels an input already has, from an earlier combine, are kept in it instead of copied), and
// the top-level metadata lists the inputs with their remapped pids and their own metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace viztrace::report {

struct CombineOptions {
  std::vector<std::string> inputs;
  std::string output;  // .json or .json.gz, written atomically
  bool align = false;  // shift each input so that its first event is at ts 0
};

struct CombineResult {
  std::uint64_t events = 0;  // events written, labels included
  std::uint64_t remapped_pids = 0;
};

class TraceCombiner {
 public:
  static constexpr std::uint64_t kMemberCaptureLimit = 1u << 20;  // larger metadata is noted only
  static constexpr std::int64_t kPidStep = 10'000'000;  // above Linux's largest pid (2^22)

  // Refuses an output name that is not .json or .json.gz (a device such as /dev/stdout is
  // fine): "combine writes JSON: use .json or .json.gz for <path>".
  static void check_output_name(const std::string& path);

  explicit TraceCombiner(CombineOptions options) : options_(std::move(options)) {}
  // Throws viztrace::Error naming the input or output at fault; the output is then untouched.
  CombineResult run();

 private:
  CombineOptions options_;
};

}  // namespace viztrace::report
