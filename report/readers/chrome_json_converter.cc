#include "report/readers/chrome_json_converter.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "report/model/shell_words.h"
#include "report/readers/trace_reader.h"
#include "report/readers/trace_samples.h"
#include "report/writers/perfetto_writer.h"
#include "simdjson.h"

namespace viztrace::report {
namespace {

namespace od = simdjson::ondemand;

// Our JSON's pid for the k-th reuse of a pid: pid + k * this.
constexpr std::int64_t kPidReuseStep = 4194304;
constexpr std::uint64_t kMetadataLimit = 64u << 20;  // larger top-level metadata is left out
// Deeper args become text: the Perfetto writer nests at most a dozen levels.
constexpr int kMaxArgDepth = 8;

// Whether an object's text has no member.
bool empty_object(std::string_view text) {
  std::size_t i = text.find_first_not_of(" \t\r\n", 1);
  return i == std::string_view::npos || text[i] == '}';
}

// Arg trees from the JSON text of args objects (checked already by TraceReader).
class ArgParser {
 public:
  // The members of an object's text, each an Arg.
  Args parse(std::string_view object) {
    Args args;
    od::document doc;
    od::object obj;
    if (iterate(object, doc) || doc.get_object().get(obj)) return args;
    for (auto f : obj) {
      od::field field;
      std::string_view key;
      if (std::move(f).get(field) || field.unescaped_key().get(key)) break;
      args.push_back(to_arg(std::string(key), field.value(), 0));
    }
    return args;
  }

  // Calls f(key, value) for each member of an object's text whose value is a number.
  template <class F>
  void numbers(std::string_view object, F&& f) {
    od::document doc;
    od::object obj;
    if (iterate(object, doc) || doc.get_object().get(obj)) return;
    for (auto m : obj) {
      od::field field;
      std::string_view key;
      if (std::move(m).get(field) || field.unescaped_key().get(key)) return;
      double v = 0;
      od::json_type type;
      od::value value = field.value();
      if (value.type().get(type) == simdjson::SUCCESS && type == od::json_type::number &&
          value.get_double().get(v) == simdjson::SUCCESS)
        f(key, v);
    }
  }

 private:
  simdjson::error_code iterate(std::string_view text, od::document& doc) {
    buffer_.resize(text.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(buffer_.data(), text.data(), text.size());
    return parser_
        .iterate(simdjson::padded_string_view(buffer_.data(), text.size(), buffer_.size()))
        .get(doc);
  }

  Arg to_arg(std::string key, od::value v, int depth) {
    Arg a;
    a.key = std::move(key);
    od::json_type type;
    if (v.type().get(type)) return a;
    switch (type) {
      case od::json_type::object: {
        od::object o;
        if (v.get_object().get(o)) return a;
        if (depth == kMaxArgDepth) return as_text(std::move(a), o.raw_json());
        a.kind = Arg::Kind::dict;
        for (auto f : o) {
          od::field field;
          std::string_view k;
          if (std::move(f).get(field) || field.unescaped_key().get(k)) break;
          a.items.push_back(to_arg(std::string(k), field.value(), depth + 1));
        }
        break;
      }
      case od::json_type::array: {
        od::array arr;
        if (v.get_array().get(arr)) return a;
        if (depth == kMaxArgDepth) return as_text(std::move(a), arr.raw_json());
        a.kind = Arg::Kind::array;
        for (auto item : arr) {
          od::value element;
          if (std::move(item).get(element)) break;
          a.items.push_back(to_arg("", element, depth + 1));
        }
        break;
      }
      case od::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s)) return a;
        a.kind = Arg::Kind::text;
        a.text = s;
        break;
      }
      case od::json_type::number: {
        od::number n;
        if (v.get_number().get(n)) return a;
        if (n.is_int64()) {
          a.kind = Arg::Kind::integer;
          a.integer = n.get_int64();
        } else {
          a.kind = Arg::Kind::real;
          a.real = n.as_double();
        }
        break;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (v.get_bool().get(b)) return a;
        a.kind = Arg::Kind::boolean;
        a.integer = b;
        break;
      }
      case od::json_type::null:
        break;
    }
    return a;
  }

  // An object or array nested too deeply: its minified text.
  static Arg as_text(Arg a, simdjson::simdjson_result<std::string_view> raw) {
    std::string_view text;
    if (std::move(raw).get(text)) return a;
    a.kind = Arg::Kind::text;
    a.text.resize(text.size());
    std::size_t length = 0;
    if (simdjson::minify(text.data(), text.size(), a.text.data(), length))
      a.text = text;
    else
      a.text.resize(length);
    return a;
  }

  od::parser parser_;
  std::string buffer_;
};

// Each distinct args object's text, stored once: a trace repeats few of them.
class ArgsTable {
 public:
  static constexpr std::uint32_t kNone = 0;
  static constexpr std::uint32_t kMaxId = (1u << 29) - 1;

  explicit ArgsTable(const std::string& path) : path_(path) {}

  std::uint32_t intern(std::string_view object) {
    if (object.empty() || empty_object(object)) return kNone;
    auto it = ids_.find(object);
    if (it != ids_.end()) return it->second;
    if (texts_.size() > kMaxId)
      throw Error(path_ + ": more than " + std::to_string(kMaxId) + " distinct args objects");
    const std::uint32_t id = static_cast<std::uint32_t>(texts_.size());
    ids_.emplace(texts_.emplace_back(object), id);
    return id;
  }

  // The args of id with the members of object added (an E's args join its B's).
  std::uint32_t join(std::uint32_t id, std::string_view object) {
    if (object.empty() || empty_object(object)) return id;
    if (id == kNone) return intern(object);
    std::string_view first = texts_[id];
    first.remove_suffix(first.size() - first.rfind('}'));
    std::string joined(first);
    joined += ',';
    joined += object.substr(1);
    return intern(joined);
  }

  // The Arg trees of id, parsed once while they are among the recently used ones.
  const Args& args(std::uint32_t id) {
    if (id == kNone) return none_;
    auto it = parsed_.find(id);
    if (it != parsed_.end()) return it->second;
    if (parsed_.size() >= kCached) parsed_.clear();
    return parsed_.emplace(id, parser_.parse(texts_[id])).first->second;
  }

  ArgParser& parser() { return parser_; }

 private:
  static constexpr std::size_t kCached = 4096;
  const std::string& path_;                       // of the trace, for the error
  std::deque<std::string> texts_{std::string()};  // by id; a deque keeps their bytes in place
  std::unordered_map<std::string_view, std::uint32_t> ids_;
  std::unordered_map<std::uint32_t, Args> parsed_;
  ArgParser parser_;
  const Args none_;
};

// A slice while reading: times as in the file (ns), names in Timeline::names, args by id.
struct SliceIn {
  std::int64_t start = 0, end = 0;
  std::uint32_t name = 0;
  std::uint32_t args : 29;
  std::uint32_t kind : 3;  // SliceKind
};
static_assert(sizeof(SliceIn) == 24);

struct InstantIn {
  std::int64_t ts = 0;
  std::uint32_t name = 0, args = 0;
};

struct ThreadIn {
  std::int64_t tid = 0;
  std::string name;
  std::int64_t first = INT64_MAX;
  std::vector<SliceIn> slices;
  std::vector<InstantIn> instants;
  std::vector<TimelineSample> samples;  // times already relative (placed after reading)
  std::vector<SliceIn> open;  // B events waiting for their E, innermost last
};

struct ProcessIn {
  std::int64_t json_pid = 0;
  std::string name;
  std::int64_t first = INT64_MAX, last = INT64_MIN;
  std::vector<ThreadIn> threads;
  std::unordered_map<std::int64_t, std::size_t> thread_index;
  std::map<std::string, std::vector<std::pair<std::int64_t, double>>> counters;

  ThreadIn& thread(std::int64_t tid) {
    auto [it, fresh] = thread_index.emplace(tid, threads.size());
    if (fresh) threads.emplace_back().tid = tid;
    return threads[it->second];
  }
};

SliceKind kind_of(std::string_view cat) {
  if (cat == "process") return SliceKind::process;
  if (cat == "thread") return SliceKind::thread;
  if (cat == "function") return SliceKind::function;
  return SliceKind::span;
}

const Arg* find_arg(const Args& args, std::string_view key) {
  for (const Arg& a : args)
    if (a.key == key) return &a;
  return nullptr;
}

// How a process ended, read back from our args (exit_code, or signal and core_dumped) and
// said as the report says it ("exit 3", "SIGSEGV (core dumped)"); "" when they do not tell.
std::string status_of(const Args& args) {
  ExitStatus status;
  if (const Arg* code = find_arg(args, "exit_code"); code && code->kind == Arg::Kind::integer) {
    status = ExitStatus::from_exit_code(static_cast<int>(code->integer));
  } else if (const Arg* sig = find_arg(args, "signal"); sig && sig->kind == Arg::Kind::integer) {
    status.kind = ExitStatus::Kind::signaled;
    status.signal = static_cast<int>(sig->integer);
    const Arg* core = find_arg(args, "core_dumped");
    status.core_dumped = core && core->kind == Arg::Kind::boolean && core->integer;
  }
  return exit_status_text(status);
}

}  // namespace

// What the reading pass collects, then the outline built from it and the slices beside it.
struct ConvertedTrace::Store final : TraceReader::Visitor {
  Store(const std::string& file, ConvertStats& counts)
      : path(file), stats(counts), args(file), samples(tl) {}

  const std::string& path;
  ConvertStats& stats;
  Timeline tl;
  ArgsTable args;
  TraceSamples samples;
  std::vector<ProcessIn> procs;
  std::unordered_map<std::int64_t, std::size_t> proc_index;
  std::vector<InstantIn> global_instants;
  std::int64_t min_ts = 0, last_ts = 0;  // min_ts <= 0: times shift by -min_ts
  // After finish(): the slices of tl.processes[p].threads[t], sorted and nested.
  std::vector<std::vector<std::vector<SliceIn>>> slices;

  std::uint64_t at(std::int64_t ts) const { return static_cast<std::uint64_t>(ts - min_ts); }
  TimelineInstant instant(const InstantIn& in) {
    TimelineInstant out;
    out.ts = at(in.ts);
    out.name = in.name;
    out.args = args.args(in.args);
    return out;
  }

  void event(const TraceEvent& e) override {
    ++stats.events;
    const std::int64_t ts = e.has_ts ? e.ts : 0;
    min_ts = std::min(min_ts, ts);
    switch (e.ph) {
      case 'M':
        return metadata(e);
      case 'X':
      case 'B':
        return slice(e, ts);
      case 'E':
        return end(e, ts);
      case 'i':
      case 'I':
      case 'R':
        return instant(e, ts);
      case 'C':
        return counter(e, ts);
      default:
        ++stats.skipped[e.ph ? std::string(1, e.ph) : "(none)"];
    }
  }

  void sample(const TraceEvent& e) override {
    if (e.has_ts) {
      min_ts = std::min(min_ts, e.ts);
      last_ts = std::max(last_ts, e.ts);
    }
    samples.sample(e);
  }
  void stack_frame(const TraceStackFrame& f) override { samples.frame(f); }

  void member(std::string_view key, std::string_view raw, std::uint64_t) override {
    if ((key != "metadata" && key != "otherData") || raw.empty() || raw.front() != '{') return;
    for (Arg& a : args.parser().parse(raw)) tl.metadata.push_back(std::move(a));
  }

  ProcessIn& process(std::int64_t pid) {
    auto [it, fresh] = proc_index.emplace(pid, procs.size());
    if (fresh) procs.emplace_back().json_pid = pid;
    return procs[it->second];
  }
  // The thread tid of process pid, which an event was seen on at ts.
  ThreadIn& thread_at(ProcessIn& p, std::int64_t tid, std::int64_t ts) {
    ThreadIn& t = p.thread(tid);
    seen(p, ts);
    t.first = std::min(t.first, ts);
    return t;
  }
  // Perfetto's rules: a missing pid is 0, a missing tid the pid's main thread.
  static std::int64_t pid_of(const TraceEvent& e) { return e.has_pid ? e.pid : 0; }
  static std::int64_t tid_of(const TraceEvent& e) { return e.has_tid ? e.tid : pid_of(e); }
  void seen(ProcessIn& p, std::int64_t ts) {
    p.first = std::min(p.first, ts);
    p.last = std::max(p.last, ts);
    last_ts = std::max(last_ts, ts);
  }
  std::uint32_t name_of(std::string_view name) {
    return tl.intern(name.empty() ? "(unnamed)" : name);
  }

  void metadata(const TraceEvent& e) {
    ++stats.metadata;
    if (e.arg_name.empty()) return;
    if (e.name == "process_name") process(pid_of(e)).name = e.arg_name;
    if (e.name == "thread_name") process(pid_of(e)).thread(tid_of(e)).name = e.arg_name;
  }

  void slice(const TraceEvent& e, std::int64_t ts) {
    ProcessIn& p = process(pid_of(e));
    ThreadIn& t = thread_at(p, tid_of(e), ts);
    SliceIn s{ts, ts, name_of(e.name), args.intern(e.args),
              static_cast<std::uint32_t>(kind_of(e.cat))};
    if (e.ph == 'B') {
      t.open.push_back(s);
      return;
    }
    s.end = ts + std::max<std::int64_t>(0, e.dur);
    seen(p, s.end);
    t.slices.push_back(s);
    ++stats.slices;
  }

  // A named E ends the innermost open B of its name and those opened inside it.
  void end(const TraceEvent& e, std::int64_t ts) {
    ThreadIn& t = thread_at(process(pid_of(e)), tid_of(e), ts);
    std::size_t match = t.open.size();
    while (match > 0 && !e.name.empty() && tl.names[t.open[match - 1].name] != e.name) --match;
    if (match == 0) {
      ++stats.unmatched_ends;
      return;
    }
    while (t.open.size() > match) close(t, ts, {});
    close(t, ts, e.args);
  }

  void close(ThreadIn& t, std::int64_t ts, std::string_view end_args) {
    SliceIn s = t.open.back();
    t.open.pop_back();
    s.end = std::max(ts, s.start);
    s.args = args.join(s.args, end_args);
    t.slices.push_back(s);
    ++stats.slices;
  }

  void instant(const TraceEvent& e, std::int64_t ts) {
    const InstantIn in{ts, name_of(e.name), args.intern(e.args)};
    ++stats.instants;
    last_ts = std::max(last_ts, ts);
    if (e.scope == 'g') {
      global_instants.push_back(in);
      return;
    }
    ProcessIn& p = process(pid_of(e));
    thread_at(p, e.scope == 'p' ? pid_of(e) : tid_of(e), ts).instants.push_back(in);
  }

  void counter(const TraceEvent& e, std::int64_t ts) {
    if (e.args.empty()) return;
    ProcessIn& p = process(pid_of(e));
    std::string prefix(e.name);
    if (!e.id.empty()) prefix += " id: " + std::string(e.id);
    args.parser().numbers(e.args, [&](std::string_view key, double v) {
      p.counters[prefix + " " + std::string(key)].emplace_back(ts, v);
      ++stats.counter_values;
      seen(p, ts);
    });
  }

  void finish();
  void close_open_begins();
  void place_samples();
  void build_process(ProcessIn& p);
  void describe_process(TimelineProcess& tp, TimelineThread& tt, std::int64_t json_pid,
                        const std::vector<SliceIn>& slices);
  void describe_trace();
};

void ConvertedTrace::Store::close_open_begins() {
  for (ProcessIn& p : procs)
    for (ThreadIn& t : p.threads)
      while (!t.open.empty()) {  // a B never closed ends with the trace
        ++stats.unclosed_begins;
        close(t, last_ts, {});
      }
}

// Each sample on its thread; one without pid on the first process with a thread of its tid,
// else on the process whose pid is its tid.
void ConvertedTrace::Store::place_samples() {
  std::unordered_map<std::int64_t, std::size_t> process_of_tid;
  bool indexed = false;
  samples.resolve([&](const SampleThread& where, std::vector<TimelineSample>&& in) {
    std::int64_t pid = where.pid;
    if (!where.has_pid) {
      if (!indexed) {
        for (std::size_t i = 0; i < procs.size(); ++i)
          for (const ThreadIn& t : procs[i].threads) process_of_tid.emplace(t.tid, i);
        indexed = true;
      }
      auto it = process_of_tid.find(where.tid);
      pid = it != process_of_tid.end() ? procs[it->second].json_pid : where.tid;
    }
    ProcessIn& p = process(pid);
    std::int64_t first = INT64_MAX, last = INT64_MIN;
    for (TimelineSample& s : in) {
      const auto ts = static_cast<std::int64_t>(s.ts);
      first = std::min(first, ts);
      last = std::max(last, ts);
      s.ts = at(ts);
    }
    thread_at(p, where.tid, first);
    ThreadIn& t = thread_at(p, where.tid, last);
    if (t.samples.empty())
      t.samples = std::move(in);
    else
      t.samples.insert(t.samples.end(), in.begin(), in.end());
  });
  const TraceSampleCounts& c = samples.counts();
  stats.samples = c.samples;
  stats.stack_frames = c.frames;
  stats.samples_unknown_frame = c.unknown_frame;
  stats.samples_unplaced = c.unplaced;
  stats.broken_frames = c.broken_parents;
  tl.sampling.samples = c.samples;
}

// What our own process spans say about the process: real pid, ppid, argv, how it ended.
void ConvertedTrace::Store::describe_process(TimelineProcess& tp, TimelineThread& tt,
                                             std::int64_t json_pid,
                                             const std::vector<SliceIn>& thread_slices) {
  for (const SliceIn& s : thread_slices) {
    if (static_cast<SliceKind>(s.kind) != SliceKind::process) continue;
    const Args& a = args.args(s.args);
    if (const Arg* pid = find_arg(a, "pid"); pid && pid->kind == Arg::Kind::integer) {
      tp.pid = static_cast<std::uint32_t>(pid->integer);
      if (tt.tid == static_cast<std::uint32_t>(json_pid)) tt.tid = tp.pid;
    }
    if (const Arg* ppid = find_arg(a, "ppid"); ppid && ppid->kind == Arg::Kind::integer)
      tp.ppid = static_cast<std::uint32_t>(ppid->integer);
    if (const Arg* argv = find_arg(a, "argv"); argv && argv->kind == Arg::Kind::array) {
      tp.argv.clear();
      for (const Arg& item : argv->items) tp.argv.push_back(item.text);
    }
    if (std::string status = status_of(a); !status.empty()) tp.status = std::move(status);
    if (find_arg(a, "target")) tp.is_target = true;
    if (const Arg* u = find_arg(a, "unfinished");
        u && u->kind == Arg::Kind::boolean && u->integer && tp.status.empty())
      tp.status = "unfinished";
  }
}

// One process of the outline: the main thread first, then threads by first event.
void ConvertedTrace::Store::build_process(ProcessIn& p) {
  bool has_events = !p.counters.empty();
  for (const ThreadIn& t : p.threads)
    has_events = has_events || !t.slices.empty() || !t.instants.empty() || !t.samples.empty();
  if (!has_events) return;  // names only (e.g. viztrace's own pid, whose events are global)
  TimelineProcess& tp = tl.processes.emplace_back();
  auto& process_slices = slices.emplace_back();
  tp.pid = static_cast<std::uint32_t>(p.json_pid);
  tp.name = p.name.empty() ? "pid " + std::to_string(p.json_pid) : p.name;
  tp.start = p.first == INT64_MAX ? 0 : at(p.first);
  tp.end = p.last == INT64_MIN ? tp.start : std::max(at(p.last), tp.start);
  std::stable_sort(p.threads.begin(), p.threads.end(), [&](const ThreadIn& a, const ThreadIn& b) {
    if ((a.tid == p.json_pid) != (b.tid == p.json_pid)) return a.tid == p.json_pid;
    return a.first < b.first;
  });
  for (ThreadIn& t : p.threads) {
    if (t.slices.empty() && t.instants.empty() && t.samples.empty()) continue;
    TimelineThread& tt = tp.threads.emplace_back();
    tt.tid = static_cast<std::uint32_t>(t.tid);
    tt.name = !t.name.empty()       ? t.name
              : t.tid == p.json_pid ? tp.name
                                    : "thread " + std::to_string(t.tid);
    for (const InstantIn& in : t.instants)
      tt.instants.push_back(instant(in));
    auto by_ts = [](const TimelineSample& a, const TimelineSample& b) { return a.ts < b.ts; };
    if (!std::is_sorted(t.samples.begin(), t.samples.end(), by_ts))
      std::stable_sort(t.samples.begin(), t.samples.end(), by_ts);
    tt.samples = std::move(t.samples);
    stats.cut += sort_and_nest(t.slices);
    describe_process(tp, tt, p.json_pid, t.slices);
    process_slices.push_back(std::move(t.slices));
    t = ThreadIn{};
  }
  // Without our args, a pid beyond Linux's pid range is a viztrace pid reuse: the real pid.
  tp.trace_pid = static_cast<std::uint32_t>(p.json_pid);
  if (tp.pid >= kPidReuseStep) tp.pid %= kPidReuseStep;
  for (auto& [series, points] : p.counters) {
    TimelineCounter& c = tp.counters.emplace_back();
    c.name = series;
    for (const auto& [ts, value] : points) c.points.emplace_back(at(ts), value);
  }
}

// The trace-wide part: title, status, losses, and the metadata on a slice over the whole trace.
void ConvertedTrace::Store::describe_trace() {
  tl.global.name = "global";
  tl.origin = 0;
  for (const TimelineProcess& p : tl.processes) tl.end = std::max(tl.end, p.end);
  tl.end = std::max(tl.end, at(last_ts));
  for (const InstantIn& in : global_instants)
    tl.global.instants.push_back(instant(in));
  if (const Arg* cmd = find_arg(tl.metadata, "command"); cmd && cmd->kind == Arg::Kind::array) {
    std::vector<std::string> words;
    for (const Arg& a : cmd->items) words.push_back(a.text);
    tl.title = shell_command(words);
  }
  if (tl.title.empty()) {
    std::size_t slash = path.rfind('/');
    tl.title = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  if (const Arg* st = find_arg(tl.metadata, "exit_status"); st && st->kind == Arg::Kind::dict)
    tl.status = status_of(st->items);
  if (const Arg* lost = find_arg(tl.metadata, "lost"); lost && lost->kind == Arg::Kind::dict)
    for (const char* key : {"dropped_records", "seq_gaps", "bad_chunks", "spill_lost",
                            "no_space_threads", "argv_cut"})
      if (const Arg* a = find_arg(lost->items, key))
        tl.lost += static_cast<std::uint64_t>(std::max<std::int64_t>(0, a->integer));
  if (!tl.metadata.empty()) {
    const bool ours = find_arg(tl.metadata, "viztrace_version") != nullptr;
    if (ours) tl.global.name = "viztrace";
    TimelineSlice& s = tl.global.slices.emplace_back();
    s.start = 0;
    s.end = tl.end;
    s.name = tl.intern(ours ? "viztrace run" : "trace");
    s.kind = SliceKind::session;
    s.args = tl.metadata;
  }
}

void ConvertedTrace::Store::finish() {
  close_open_begins();
  place_samples();
  std::stable_sort(procs.begin(), procs.end(),
                   [](const ProcessIn& a, const ProcessIn& b) { return a.first < b.first; });
  for (ProcessIn& p : procs) build_process(p);
  procs.clear();
  proc_index.clear();
  describe_trace();
  stats.cut += tl.normalize();  // the outline's instants, counters and the session slice
}

ConvertedTrace::ConvertedTrace(const std::string& path, ConvertStats& stats)
    : store_(std::make_unique<Store>(path, stats)) {
  TraceReader::Options options;
  options.capture_limit = kMetadataLimit;
  options.samples = true;
  stats.closed_truncated_array = TraceReader::read(path, *store_, options).unclosed_array;
  store_->finish();
}

ConvertedTrace::~ConvertedTrace() = default;

const Timeline& ConvertedTrace::outline() const {
  return store_->tl;
}

Timeline ConvertedTrace::timeline() {
  Store& st = *store_;
  for (std::size_t p = 0; p < st.slices.size(); ++p)
    for (std::size_t t = 0; t < st.slices[p].size(); ++t) {
      std::vector<SliceIn>& in = st.slices[p][t];
      std::vector<TimelineSlice>& out = st.tl.processes[p].threads[t].slices;
      out.reserve(in.size());
      for (const SliceIn& s : in)
        out.push_back(TimelineSlice{st.at(s.start), st.at(s.end), s.name,
                                    static_cast<SliceKind>(s.kind), st.args.args(s.args)});
      std::vector<SliceIn>().swap(in);
    }
  return std::move(st.tl);
}

std::uint64_t ConvertedTrace::write_perfetto(ByteSink& sink) {
  Store& st = *store_;
  PerfettoTimelineWriter out(st.tl, sink);
  out.write();
  PerfettoWriter& w = out.writer();
  for (std::size_t p = 0; p < st.slices.size(); ++p)
    for (std::size_t t = 0; t < st.slices[p].size(); ++t) {
      const std::vector<SliceIn>& thread_slices = st.slices[p][t];
      if (thread_slices.empty()) continue;
      const PerfettoWriter::Sequence seq =
          out.thread_sequence(p, st.tl.processes[p].threads[t].tid);
      std::vector<std::uint64_t> open;  // ends of the open slices, innermost last
      for (const SliceIn& s : thread_slices) {
        const std::uint64_t start = st.at(s.start);
        for (; !open.empty() && open.back() <= start; open.pop_back())
          w.slice_end(seq, open.back());
        w.begin_event(seq, start, PerfettoWriter::kSliceBegin, st.tl.names[s.name], 0,
                      perfetto_category(static_cast<SliceKind>(s.kind)), s.name);
        for (const Arg& a : st.args.args(s.args)) w.arg(a);
        w.end_event();
        open.push_back(st.at(s.end));
      }
      for (; !open.empty(); open.pop_back()) w.slice_end(seq, open.back());
      w.end_sequence(seq);
    }
  return out.finish();
}

Timeline read_chrome_json(const std::string& path, ConvertStats& stats) {
  return ConvertedTrace(path, stats).timeline();
}

}  // namespace viztrace::report
