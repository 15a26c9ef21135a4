#include "report/writers/speedscope_writer.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "report/writers/json_writer.h"

namespace viztrace::report {
namespace {

constexpr std::string_view kSchema = "https://www.speedscope.app/file-format-schema.json";
constexpr std::uint32_t kNoFrame = UINT32_MAX;

// A slice or call of an evented profile: ns since the origin, an index into the file's frames.
struct Span {
  std::uint64_t start = 0, end = 0;
  std::uint32_t frame = 0;
};

class SpeedscopeWriter final : public TraceWriter {
 public:
  explicit SpeedscopeWriter(ByteSink& sink) : json_(sink) {}

  void begin(const Timeline& trace, const FunctionPass* names) override {
    tl_ = &trace;
    names_ = names;
    sampled_ = trace.sample_count() > 0;
  }

  void call(const FunctionSlice& f) override {
    if (sampled_) return;  // the samples are the profiles
    const std::uint64_t key = std::uint64_t{f.pid} << 32 | f.tid;
    auto [it, fresh] = calls_of_.try_emplace(key, calls_.size());
    if (fresh) calls_.emplace_back(key, std::vector<Span>());
    calls_[it->second].second.push_back({rel(f.start), rel(f.end), function_frame(f.name)});
  }

  void finish() override {
    json_.begin_object();
    json_.member("$schema", kSchema);
    json_.member("exporter", "viztrace " VIZTRACE_VERSION);
    json_.member("name", tl_->title);
    json_.key("profiles");
    json_.begin_array();
    if (sampled_) {
      for (const TimelineProcess& p : tl_->processes)
        for (const TimelineThread& t : p.threads)
          if (!t.samples.empty()) sampled_profile(p, t);
    } else {
      evented_profiles();
    }
    json_.end_array();
    json_.member("activeProfileIndex", best_);
    json_.key("shared");
    json_.begin_object();
    json_.key("frames");
    json_.begin_array();
    for (const Frame& f : frames_) {
      json_.begin_object(true);
      json_.member("name", f.name);
      if (!f.file.empty()) json_.member("file", f.file);
      if (f.line != 0) json_.member("line", f.line);
      json_.end_object();
    }
    json_.end_array();
    json_.end_object();
    json_.end_object();
    json_.newline();
    json_.flush();
  }

 private:
  struct Frame {
    std::string name, file;
    std::uint32_t line = 0;
  };

  std::uint64_t rel(std::uint64_t ts) const { return ts > tl_->origin ? ts - tl_->origin : 0; }

  // The index of the frame (name, file, line) in the file, adding it when new.
  std::uint32_t frame(std::string_view name, std::string_view file, std::uint32_t line) {
    std::string key;
    key.reserve(name.size() + file.size() + 12);
    key.append(name).append(1, '\0').append(file).append(1, '\0').append(std::to_string(line));
    auto [it, fresh] =
        frame_index_.try_emplace(std::move(key), static_cast<std::uint32_t>(frames_.size()));
    if (fresh) frames_.push_back({std::string(name), std::string(file), line});
    return it->second;
  }

  // Cached per id: ids[id] is the file's frame, kNoFrame until asked.
  template <class Make>
  std::uint32_t cached(std::vector<std::uint32_t>& ids, std::uint32_t id, Make&& make) {
    if (id >= ids.size()) ids.resize(id + 1, kNoFrame);
    if (ids[id] == kNoFrame) ids[id] = make();
    return ids[id];
  }

  // A sampled frame: its source where DWARF gave one, else its module.
  std::uint32_t timeline_frame(std::uint32_t index) {
    return cached(timeline_frames_, index, [&] {
      const TimelineFrame& f = tl_->frames[index];
      const std::string& name = tl_->names[f.name];
      if (f.file != 0) return frame(name, tl_->names[f.file], f.line);
      return frame(name, f.module != 0 ? std::string_view(tl_->names[f.module]) : "", 0);
    });
  }

  std::uint32_t slice_frame(std::uint32_t name) {
    return cached(slice_frames_, name, [&] { return frame(tl_->names[name], "", 0); });
  }

  std::uint32_t function_frame(std::uint32_t name) {
    return cached(function_frames_, name, [&] {
      return frame(names_->name(name), names_->source_file(name), names_->source_line(name));
    });
  }

  static std::string profile_name(const TimelineProcess& p, std::string_view thread,
                                  std::uint32_t tid) {
    return p.name + " (" + std::to_string(p.pid) + ") / " +
           (thread.empty() ? std::string("thread") : std::string(thread)) + " (" +
           std::to_string(tid) + ")";
  }

  // The most telling profile opens first: the most samples, or the longest.
  void rank(std::uint64_t size) {
    if (size > best_size_) {
      best_size_ = size;
      best_ = profiles_;
    }
    ++profiles_;
  }

  void sampled_profile(const TimelineProcess& p, const TimelineThread& t) {
    const bool timed = std::all_of(t.samples.begin(), t.samples.end(),
                                   [](const TimelineSample& s) { return s.weight_ns > 0; });
    // Consecutive samples of one stack are one entry, their weights summed: speedscope's
    // importer merges them so, and a hot loop's file shrinks by orders of magnitude.
    std::vector<std::pair<std::uint32_t, std::uint64_t>> runs;  // (stack, weight)
    std::uint64_t total = 0;
    for (const TimelineSample& s : t.samples) {
      const std::uint64_t w = timed ? s.weight_ns : 1;
      total += w;
      if (!runs.empty() && runs.back().first == s.stack)
        runs.back().second += w;
      else
        runs.emplace_back(s.stack, w);
    }
    rank(t.samples.size());
    json_.begin_object(true);
    json_.member("type", "sampled");
    json_.member("name", profile_name(p, t.name, t.tid));
    json_.member("unit", timed ? "nanoseconds" : "none");
    json_.member("startValue", 0);
    json_.member("endValue", total);
    json_.key("samples");
    json_.begin_array();
    std::vector<std::uint32_t> stack;
    for (const auto& [node0, w] : runs) {
      stack.clear();
      for (std::uint32_t node = node0; node != 0; node = tl_->stack_nodes[node].parent)
        stack.push_back(timeline_frame(tl_->stack_nodes[node].frame));
      if (stack.empty()) stack.push_back(frame("[unknown]", "", 0));
      json_.begin_array();
      for (auto it = stack.rbegin(); it != stack.rend(); ++it) json_.unsigned_integer(*it);
      json_.end_array();
    }
    json_.end_array();
    json_.key("weights");
    json_.begin_array();
    for (const auto& [node, w] : runs) json_.unsigned_integer(w);
    json_.end_array();
    json_.end_object();
  }

  void evented_profiles() {
    for (const TimelineProcess& p : tl_->processes)
      for (const TimelineThread& t : p.threads) {
        std::vector<Span> spans;
        for (const TimelineSlice& s : t.slices)
          spans.push_back({rel(s.start), rel(s.end), slice_frame(s.name)});
        auto calls = calls_of_.find(std::uint64_t{p.json_pid()} << 32 | t.tid);
        if (calls != calls_of_.end()) {
          std::vector<Span>& c = calls_[calls->second].second;
          spans.insert(spans.end(), c.begin(), c.end());
          std::vector<Span>().swap(c);
          calls_of_.erase(calls);
        }
        evented_profile(profile_name(p, t.name, t.tid), spans);
      }
    // Calls of threads the Timeline does not know.
    for (auto& [key, c] : calls_)
      if (!c.empty())
        evented_profile(
            "pid " + std::to_string(key >> 32) + " / thread " + std::to_string(key & 0xffffffffu),
            c);
  }

  void evented_profile(const std::string& name, std::vector<Span>& spans) {
    if (spans.empty()) return;
    sort_and_nest(spans);
    std::uint64_t end = 0;
    for (const Span& s : spans) end = std::max(end, s.end);
    rank(end - spans.front().start);
    json_.begin_object(true);
    json_.member("type", "evented");
    json_.member("name", name);
    json_.member("unit", "nanoseconds");
    json_.member("startValue", spans.front().start);
    json_.member("endValue", end);
    json_.key("events");
    json_.begin_array();
    std::vector<const Span*> open;
    auto event = [&](const char* type, std::uint32_t frame, std::uint64_t at) {
      json_.begin_object();
      json_.member("type", type);
      json_.member("frame", frame);
      json_.member("at", at);
      json_.end_object();
    };
    for (const Span& s : spans) {
      for (; !open.empty() && open.back()->end <= s.start; open.pop_back())
        event("C", open.back()->frame, open.back()->end);
      event("O", s.frame, s.start);
      open.push_back(&s);
    }
    for (; !open.empty(); open.pop_back()) event("C", open.back()->frame, open.back()->end);
    json_.end_array();
    json_.end_object();
  }

  JsonWriter json_;
  const Timeline* tl_ = nullptr;
  const FunctionPass* names_ = nullptr;
  bool sampled_ = false;
  std::vector<Frame> frames_;
  std::unordered_map<std::string, std::uint32_t> frame_index_;
  std::vector<std::uint32_t> timeline_frames_, slice_frames_, function_frames_;
  // The calls of each thread (json pid << 32 | tid), in the order they returned.
  std::vector<std::pair<std::uint64_t, std::vector<Span>>> calls_;
  std::unordered_map<std::uint64_t, std::size_t> calls_of_;
  std::uint64_t profiles_ = 0, best_ = 0, best_size_ = 0;
};

}  // namespace

std::unique_ptr<TraceWriter> make_speedscope_writer(ByteSink& sink) {
  return std::make_unique<SpeedscopeWriter>(sink);
}

}  // namespace viztrace::report
