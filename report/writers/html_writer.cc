#include "report/writers/html_writer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "report/model/sample_profile.h"
#include "report/model/utf8.h"
#include "report/writers/json_writer.h"

namespace viztrace::report {

// The viewer page, from report/writers/html/viewer.html (report/CMakeLists.txt embeds it).
extern const unsigned char kViewerHtml[];
extern const std::size_t kViewerHtmlSize;

namespace {

constexpr std::string_view kPlaceholder = "VIZTRACE_DATA_PLACEHOLDER";

std::string real_text(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

bool scalar(const Arg& a) {
  return a.kind != Arg::Kind::array && a.kind != Arg::Kind::dict;
}

std::string scalar_text(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::boolean:
      return a.integer ? "true" : "false";
    case Arg::Kind::integer:
      return std::to_string(a.integer);
    case Arg::Kind::real:
      return real_text(a.real);
    case Arg::Kind::fixed3: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", a.number());
      return buf;
    }
    case Arg::Kind::text:
      return a.text;
    default:
      return "null";
  }
}

// Args as "key: value" lines; an array of scalars on one line, joined by spaces (argv).
void args_text(const Args& args, const std::string& prefix, std::string& out) {
  for (const Arg& a : args) {
    std::string key = prefix.empty() ? a.key : a.key.empty() ? prefix : prefix + "." + a.key;
    if (scalar(a)) {
      out += key + ": " + scalar_text(a) + "\n";
      continue;
    }
    bool flat = a.kind == Arg::Kind::array;
    for (const Arg& item : a.items) flat = flat && scalar(item);
    if (flat) {
      out += key + ":";
      for (const Arg& item : a.items) out += " " + scalar_text(item);
      out += "\n";
    } else if (a.kind == Arg::Kind::array) {
      for (std::size_t i = 0; i < a.items.size(); ++i) {
        Args one = {a.items[i]};
        one[0].key = "[" + std::to_string(i) + "]";
        args_text(one, key, out);
      }
    } else {
      args_text(a.items, key, out);
    }
  }
}

std::string args_text(const Args& args) {
  std::string out;
  args_text(args, "", out);
  if (!out.empty()) out.pop_back();
  return out;
}

// An arg's value without its key: a scalar, an argv-like line, or "key: value" lines.
std::string value_text(const Arg& a) {
  if (scalar(a)) return scalar_text(a);
  bool flat = a.kind == Arg::Kind::array;
  for (const Arg& item : a.items) flat = flat && scalar(item);
  if (!flat) return args_text(a.kind == Arg::Kind::dict ? a.items : Args{a});
  std::string line;
  for (const Arg& item : a.items) line += (line.empty() ? "" : " ") + scalar_text(item);
  return line;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// The string table: the timeline's names first (same indexes), then detail texts.
class Strings {
 public:
  explicit Strings(const std::vector<std::string>& names) : table_(names) {}
  std::uint32_t add(std::string text) {
    if (text.empty()) return 0;
    if (index_.empty())
      for (std::uint32_t i = 0; i < table_.size(); ++i) index_.emplace(table_[i], i);
    auto it = index_.find(text);
    if (it != index_.end()) return it->second;
    auto id = static_cast<std::uint32_t>(table_.size());
    table_.push_back(text);
    index_.emplace(std::move(text), id);
    return id;
  }
  const std::vector<std::string>& table() const { return table_; }

 private:
  std::vector<std::string> table_;
  std::unordered_map<std::string, std::uint32_t> index_;
};

// The sampled stacks for the flame graphs: the frames and the part of the tree of stacks that
// samples reach, both renumbered so that a node comes after its parent, and each process's self
// samples per node (the page sums totals). Only processes with samples; written only when the
// run was sampled or holds samples.
void write_samples(const Timeline& tl, Strings& strings, JsonWriter& out) {
  const SamplingInfo& info = tl.sampling;
  struct ProcessSamples {
    std::size_t process;                                        // index in tl.processes
    std::vector<std::pair<std::uint32_t, std::uint64_t>> self;  // (node, samples), by node
  };
  std::vector<ProcessSamples> procs;
  std::vector<std::uint32_t> stacks;
  for (std::size_t i = 0; i < tl.processes.size(); ++i) {
    stacks.clear();
    for (const TimelineThread& t : tl.processes[i].threads)
      for (const TimelineSample& s : t.samples)
        stacks.push_back(s.stack < tl.stack_nodes.size() ? s.stack : 0);
    if (stacks.empty()) continue;
    std::sort(stacks.begin(), stacks.end());
    auto& counts = procs.emplace_back(ProcessSamples{i, {}}).self;
    for (std::uint32_t node : stacks)
      if (!counts.empty() && counts.back().first == node)
        ++counts.back().second;
      else
        counts.emplace_back(node, 1);
  }
  if (!info.requested && procs.empty()) return;

  // A node's parent was interned before it (Timeline::intern_stack): a link that does not go
  // back is taken as the root's, so every walk up ends.
  auto parent_of = [&](std::uint32_t node) {
    std::uint32_t parent = tl.stack_nodes[node].parent;
    return parent < node ? parent : 0;
  };
  // New ids: the root 0, then every node some sample reaches, each after its parent.
  constexpr std::uint32_t kNone = UINT32_MAX;
  std::vector<std::uint32_t> id(tl.stack_nodes.size(), kNone);
  std::vector<std::uint32_t> order = {0};  // old node of each new id
  std::vector<std::uint32_t> frame_id(tl.frames.size(), kNone);
  std::vector<std::uint32_t> frames = {0};  // old frame of each new frame id
  id[0] = 0;
  std::vector<std::uint32_t> path;
  for (const ProcessSamples& p : procs)
    for (const auto& [node, n] : p.self) {
      path.clear();
      for (std::uint32_t at = node; id[at] == kNone; at = parent_of(at)) path.push_back(at);
      for (auto it = path.rbegin(); it != path.rend(); ++it) {
        id[*it] = static_cast<std::uint32_t>(order.size());
        order.push_back(*it);
        std::uint32_t frame = tl.stack_nodes[*it].frame;
        if (frame < tl.frames.size() && frame_id[frame] == kNone) {
          frame_id[frame] = static_cast<std::uint32_t>(frames.size());
          frames.push_back(frame);
        }
      }
    }

  out.key("samples");
  out.begin_object();
  out.member("requested", info.requested);
  out.member("method", info.method);
  out.member("why_not", info.why_not);
  out.member("hz", info.hz);
  out.member("stack_bytes", info.stack_bytes);
  out.member("user_time_only", info.user_time_only);
  out.member("lost", info.lost);
  out.member("cut_short", info.cut_short);
  out.member("copy_too_small", info.copy_too_small);
  out.member("unplaced", info.unplaced);
  // Per frame: name, module's base name, "file:line", inlined (1) or not (0); frame 0: none.
  out.key("frames");
  out.begin_array();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const TimelineFrame& f = i ? tl.frames[frames[i]] : TimelineFrame{};
    out.unsigned_integer(i ? f.name : 0);
    out.unsigned_integer(i ? strings.add(frame_module(tl, f)) : 0);
    out.unsigned_integer(i ? strings.add(frame_source(tl, f)) : 0);
    out.unsigned_integer(f.inlined ? 1 : 0);
  }
  out.end_array();
  // Per node: its id minus its parent's (0 for the root), its frame.
  out.key("nodes");
  out.begin_array();
  for (std::size_t i = 0; i < order.size(); ++i) {
    const StackNode& n = tl.stack_nodes[order[i]];
    out.unsigned_integer(i - id[parent_of(order[i])]);
    out.unsigned_integer(i && n.frame < tl.frames.size() ? frame_id[n.frame] : 0);
  }
  out.end_array();
  // Per process: [index in procs, then (node minus the previous node, self samples) pairs].
  out.key("procs");
  out.begin_array();
  std::vector<std::pair<std::uint32_t, std::uint64_t>> renumbered;
  for (const ProcessSamples& p : procs) {
    renumbered.clear();
    for (const auto& [node, n] : p.self) renumbered.emplace_back(id[node], n);
    std::sort(renumbered.begin(), renumbered.end());
    out.begin_array();
    out.unsigned_integer(p.process);
    std::uint32_t prev = 0;
    for (const auto& [node, n] : renumbered) {
      out.unsigned_integer(node - prev);
      out.unsigned_integer(n);
      prev = node;
    }
    out.end_array();
  }
  out.end_array();
  out.end_object();
}

}  // namespace

std::uint64_t write_html(const Timeline& tl, ByteSink& sink) {
  const std::string_view page(reinterpret_cast<const char*>(kViewerHtml), kViewerHtmlSize);
  const std::size_t at = page.find(kPlaceholder);
  if (at == std::string_view::npos) throw Error("internal error: the HTML viewer has no data slot");

  Strings strings(tl.names);
  auto rel = [&](std::uint64_t t) { return t > tl.origin ? t - tl.origin : 0; };

  // Tracks in display order: the trace-wide one, then each process's threads.
  struct TrackRef {
    std::int64_t process;  // -1: trace-wide
    const TimelineThread* thread;
  };
  std::vector<TrackRef> tracks;
  if (!tl.global.slices.empty() || !tl.global.instants.empty()) tracks.push_back({-1, &tl.global});
  // Trace-wide counters: a track each, their samples as instants "name = value".
  std::vector<TimelineThread> counter_tracks(tl.counters.size());
  for (std::size_t i = 0; i < tl.counters.size(); ++i) {
    const TimelineCounter& c = tl.counters[i];
    TimelineThread& t = counter_tracks[i];
    t.name = "counter " + c.name;
    for (const auto& [ts, value] : c.points) {
      TimelineInstant& in = t.instants.emplace_back();
      in.ts = ts;
      in.name = strings.add(c.name + " = " + real_text(value));
    }
    tracks.push_back({-1, &t});
  }
  std::vector<std::size_t> main_track(tl.processes.size(), 0);
  for (std::size_t i = 0; i < tl.processes.size(); ++i) {
    main_track[i] = tracks.size();
    for (const TimelineThread& t : tl.processes[i].threads)
      tracks.push_back({static_cast<std::int64_t>(i), &t});
  }

  sink.write(page.data(), at);
  JsonWriter out(sink);
  out.set_script_safe(true);
  out.begin_object();
  out.member("version", 1);
  out.member("title", tl.title);
  out.member("status", tl.status);
  out.member("duration", tl.end > tl.origin ? tl.end - tl.origin : 0);
  std::uint64_t threads = 0;
  for (const TimelineProcess& p : tl.processes) threads += p.threads.size();
  out.member("threads", threads);

  // Summary lines from the metadata.
  out.key("meta");
  out.begin_array();
  for (const Arg& a : tl.metadata) {
    out.begin_array();
    out.string(a.key);
    out.string(value_text(a));
    out.end_array();
  }
  out.end_array();
  out.member("lost", tl.lost);

  out.key("procs");
  out.begin_array();
  for (std::size_t i = 0; i < tl.processes.size(); ++i) {
    const TimelineProcess& p = tl.processes[i];
    out.begin_array();
    out.unsigned_integer(p.pid);
    out.unsigned_integer(p.ppid);
    out.unsigned_integer(strings.add(p.name));
    out.unsigned_integer(rel(p.start));
    out.unsigned_integer(p.end > p.start ? p.end - p.start : 0);
    out.unsigned_integer(strings.add(p.status));
    out.unsigned_integer(p.is_target ? 1 : 0);
    out.unsigned_integer(strings.add(joined(p.argv)));
    out.unsigned_integer(main_track[i]);
    out.end_array();
  }
  out.end_array();

  out.key("tracks");
  out.begin_array();
  for (const TrackRef& t : tracks) {
    out.begin_array();
    out.integer(t.process);
    out.unsigned_integer(t.thread->tid);
    out.unsigned_integer(strings.add(t.thread->name.empty() ? "viztrace" : t.thread->name));
    out.unsigned_integer(t.thread->slices.size());
    out.unsigned_integer(t.thread->instants.size());
    out.end_array();
  }
  out.end_array();

  // Per slice: start (delta from the previous slice of the track), duration, name, kind, details.
  out.key("slices");
  out.begin_array();
  for (const TrackRef& t : tracks) {
    std::uint64_t prev = 0;
    for (const TimelineSlice& s : t.thread->slices) {
      std::uint64_t start = rel(s.start);
      out.unsigned_integer(start - prev);
      out.unsigned_integer(s.end > s.start ? s.end - s.start : 0);
      out.unsigned_integer(s.name);
      out.unsigned_integer(static_cast<std::uint64_t>(s.kind));
      out.unsigned_integer(s.args.empty() ? 0 : strings.add(args_text(s.args)));
      prev = start;
    }
  }
  out.end_array();
  out.key("instants");
  out.begin_array();
  for (const TrackRef& t : tracks) {
    std::uint64_t prev = 0;
    for (const TimelineInstant& in : t.thread->instants) {
      std::uint64_t ts = rel(in.ts);
      out.unsigned_integer(ts - prev);
      out.unsigned_integer(in.name);
      out.unsigned_integer(in.args.empty() ? 0 : strings.add(args_text(in.args)));
      prev = ts;
    }
  }
  out.end_array();
  write_samples(tl, strings, out);
  // The string table last: every index above is in it by now.
  out.key("strings");
  out.begin_array();
  for (const std::string& text : strings.table()) out.string(text);
  out.end_array();
  out.end_object();
  out.flush();
  const std::string_view rest = page.substr(at + kPlaceholder.size());
  sink.write(rest.data(), rest.size());
  return at + out.bytes() + rest.size();
}

namespace {

class HtmlTraceWriter final : public TraceWriter {
 public:
  explicit HtmlTraceWriter(ByteSink& sink) : sink_(sink) {}

  void begin(const Timeline& trace, const FunctionPass* names) override {
    tl_ = trace;
    names_ = names;
    by_json_pid_ = processes_by_json_pid(tl_);
  }
  void call(const FunctionSlice& f) override {
    auto it = by_json_pid_.find(f.pid);
    if (it == by_json_pid_.end()) return;
    TimelineProcess& p = tl_.processes[it->second];
    auto t = std::find_if(p.threads.begin(), p.threads.end(),
                          [&](const TimelineThread& x) { return x.tid == f.tid; });
    if (t == p.threads.end()) {
      t = p.threads.emplace(p.threads.end());
      t->tid = f.tid;
      t->name = "thread " + std::to_string(f.tid);
    }
    if (names_of_.size() <= f.name) names_of_.resize(f.name + 1, UINT32_MAX);
    if (names_of_[f.name] == UINT32_MAX) names_of_[f.name] = tl_.intern(names_->name(f.name));
    TimelineSlice& s = t->slices.emplace_back();
    s.start = std::max(f.start, tl_.origin);
    s.end = std::max(f.end, tl_.origin);
    s.name = names_of_[f.name];
    s.kind = SliceKind::function;
    if (f.unfinished) s.args.push_back(Arg::of("unfinished", true));
  }
  void finish() override {
    tl_.normalize();
    write_html(tl_, sink_);
  }

 private:
  ByteSink& sink_;
  Timeline tl_;
  const FunctionPass* names_ = nullptr;
  std::unordered_map<std::uint32_t, std::size_t> by_json_pid_;
  std::vector<std::uint32_t> names_of_;  // function name id -> name id in tl_
};

}  // namespace

std::unique_ptr<TraceWriter> make_html_writer(ByteSink& sink) {
  return std::make_unique<HtmlTraceWriter>(sink);
}

}  // namespace viztrace::report
