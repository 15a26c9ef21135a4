#include "report/readers/chrome_json_converter.h"

#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "common/error.h"
#include "report/model/shell_words.h"

namespace viztrace::report {
namespace {

constexpr std::int64_t kPidReuseStep =
    4194304;  // our JSON's pid for the k-th reuse: pid + k * this

std::string read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (!f) throw system_error("cannot read " + path);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  int err = 0;
  std::string why = n < 0 ? gzerror(f, &err) : "";
  gzclose(f);
  if (n < 0)
    throw Error("cannot read " + path + ": " + (err == Z_ERRNO ? std::strerror(errno) : why));
  return out;
}

// Deeper args become text: the Perfetto writer nests at most a dozen levels.
constexpr int kMaxArgDepth = 8;

Arg to_arg(std::string key, simdjson::dom::element e, int depth = 0) {
  using T = simdjson::dom::element_type;
  Arg a;
  a.key = std::move(key);
  if (depth == kMaxArgDepth && (e.type() == T::OBJECT || e.type() == T::ARRAY)) {
    a.kind = Arg::Kind::text;
    a.text = simdjson::minify(e);
    return a;
  }
  switch (e.type()) {
    case T::OBJECT: {
      a.kind = Arg::Kind::dict;
      simdjson::dom::object object = e.get_object().value();
      for (auto field : object)
        a.items.push_back(to_arg(std::string(field.key), field.value, depth + 1));
      break;
    }
    case T::ARRAY: {
      a.kind = Arg::Kind::array;
      simdjson::dom::array array = e.get_array().value();
      for (simdjson::dom::element item : array) a.items.push_back(to_arg("", item, depth + 1));
      break;
    }
    case T::STRING:
      a.kind = Arg::Kind::text;
      a.text = std::string(e.get_string().value());
      break;
    case T::INT64:
      a.kind = Arg::Kind::integer;
      a.integer = e.get_int64().value();
      break;
    case T::UINT64:
      a.kind = Arg::Kind::real;
      a.real = static_cast<double>(e.get_uint64().value());
      break;
    case T::DOUBLE:
      a.kind = Arg::Kind::real;
      a.real = e.get_double().value();
      break;
    case T::BOOL:
      a.kind = Arg::Kind::boolean;
      a.integer = e.get_bool().value();
      break;
    default:
      break;
  }
  return a;
}

const Arg* find_arg(const Args& args, std::string_view key) {
  for (const Arg& a : args)
    if (a.key == key) return &a;
  return nullptr;
}

// A number or numeric string; fallback when missing or not a number.
double number(simdjson::dom::element e, std::string_view key, double fallback) {
  auto v = e[key];
  if (v.error()) return fallback;
  if (auto d = v.get_double(); !d.error()) return d.value();
  if (auto s = v.get_string(); !s.error()) {
    std::string text(s.value());
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end && end != text.c_str()) return d;
  }
  return fallback;
}

std::string text(simdjson::dom::element e, std::string_view key) {
  auto v = e[key].get_string();
  return v.error() ? std::string() : std::string(v.value());
}

// One thread's events while reading.
struct ThreadIn {
  std::int64_t tid = 0;
  std::string name;
  std::uint64_t first = UINT64_MAX;
  std::vector<TimelineSlice> slices;
  std::vector<TimelineInstant> instants;
  std::vector<TimelineSlice> open;  // B events waiting for their E
};

struct ProcessIn {
  std::int64_t json_pid = 0;
  std::string name;
  std::uint64_t first = UINT64_MAX, last = 0;
  std::vector<ThreadIn> threads;
  std::unordered_map<std::int64_t, std::size_t> thread_index;
  std::map<std::string, TimelineCounter> counters;

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

}  // namespace

Timeline read_chrome_json(const std::string& path, ConvertStats& stats) {
  std::string bytes = read_all(path);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto parsed = parser.parse(bytes);
  if (parsed.error()) {
    // An array cut short (a crashed writer): close it, as catapult and Perfetto do.
    std::size_t b = bytes.find_first_not_of(" \t\r\n");
    std::size_t e = bytes.find_last_not_of(" \t\r\n,");
    if (b != std::string::npos && bytes[b] == '[' && e != std::string::npos && bytes[e] != ']') {
      std::string closed = bytes.substr(0, e + 1) + "]";
      auto again = parser.parse(closed);
      if (!again.error()) {
        bytes.swap(closed);
        parsed = parser.parse(bytes);
        stats.closed_truncated_array = true;
      }
    }
  }
  if (parsed.error())
    throw Error(path + " is not a Chrome JSON trace: " + simdjson::error_message(parsed.error()));
  root = parsed.value();

  simdjson::dom::array events;
  Timeline tl;
  if (auto arr = root.get_array(); !arr.error()) {
    events = arr.value();
  } else if (auto obj = root.get_object(); !obj.error()) {
    auto te = obj.value()["traceEvents"].get_array();
    if (te.error()) throw Error(path + " is not a Chrome JSON trace: no traceEvents array");
    events = te.value();
    for (const char* key : {"metadata", "otherData"}) {
      auto meta = obj.value()[key].get_object();
      if (meta.error()) continue;
      simdjson::dom::object fields = meta.value();
      for (auto field : fields) tl.metadata.push_back(to_arg(std::string(field.key), field.value));
    }
  } else {
    throw Error(path + " is not a Chrome JSON trace: neither an array nor an object");
  }

  // Times: µs in the file, read as Perfetto does (llround(v * 1000)); shifted so none is negative.
  auto ns = [](double us) { return static_cast<std::int64_t>(std::llround(us * 1000)); };
  std::int64_t min_ts = 0;
  for (simdjson::dom::element e : events) min_ts = std::min(min_ts, ns(number(e, "ts", 0)));
  const std::uint64_t shift = static_cast<std::uint64_t>(-min_ts);
  auto at = [&](double us) { return static_cast<std::uint64_t>(ns(us)) + shift; };

  std::vector<ProcessIn> procs;
  std::unordered_map<std::int64_t, std::size_t> proc_index;
  auto process = [&](std::int64_t pid) -> ProcessIn& {
    auto [it, fresh] = proc_index.emplace(pid, procs.size());
    if (fresh) procs.emplace_back().json_pid = pid;
    return procs[it->second];
  };
  std::uint64_t last_ts = 0;
  auto seen = [&](ProcessIn& p, ThreadIn& t, std::uint64_t ts) {
    p.first = std::min(p.first, ts);
    p.last = std::max(p.last, ts);
    t.first = std::min(t.first, ts);
    last_ts = std::max(last_ts, ts);
  };
  auto args_of = [](simdjson::dom::element e) {
    Args args;
    auto obj = e["args"].get_object();
    if (obj.error()) return args;
    simdjson::dom::object fields = obj.value();
    for (auto field : fields) args.push_back(to_arg(std::string(field.key), field.value));
    return args;
  };

  for (simdjson::dom::element e : events) {
    if (e.type() != simdjson::dom::element_type::OBJECT) continue;
    ++stats.events;
    const std::string ph = text(e, "ph");
    const auto pid = static_cast<std::int64_t>(number(e, "pid", 0));
    const auto tid = static_cast<std::int64_t>(number(e, "tid", static_cast<double>(pid)));
    const std::uint64_t ts = at(number(e, "ts", 0));
    std::string name = text(e, "name");
    if (ph == "M") {
      ++stats.metadata;
      auto value = e["args"]["name"].get_string();
      if (value.error()) continue;
      if (name == "process_name") process(pid).name = std::string(value.value());
      if (name == "thread_name") process(pid).thread(tid).name = std::string(value.value());
      continue;
    }
    if (ph == "X" || ph == "B" || ph == "E") {
      ProcessIn& p = process(pid);
      ThreadIn& t = p.thread(tid);
      seen(p, t, ts);
      if (ph == "E") {
        if (t.open.empty()) {
          ++stats.unmatched_ends;
          continue;
        }
        TimelineSlice s = std::move(t.open.back());
        t.open.pop_back();
        s.end = std::max(ts, s.start);
        for (Arg& a : args_of(e)) s.args.push_back(std::move(a));  // E's args join B's
        t.slices.push_back(std::move(s));
        ++stats.slices;
        continue;
      }
      TimelineSlice s;
      s.start = ts;
      s.name = tl.intern(name.empty() ? "(unnamed)" : name);
      s.kind = kind_of(text(e, "cat"));
      s.args = args_of(e);
      if (ph == "B") {
        t.open.push_back(std::move(s));
        continue;
      }
      s.end = ts + static_cast<std::uint64_t>(std::max<std::int64_t>(0, ns(number(e, "dur", 0))));
      seen(p, t, s.end);
      t.slices.push_back(std::move(s));
      ++stats.slices;
      continue;
    }
    if (ph == "i" || ph == "I" || ph == "R") {
      TimelineInstant in;
      in.ts = ts;
      in.name = tl.intern(name.empty() ? "(unnamed)" : name);
      in.args = args_of(e);
      ++stats.instants;
      last_ts = std::max(last_ts, ts);
      if (text(e, "s") == "g") {
        tl.global.instants.push_back(std::move(in));
        continue;
      }
      ProcessIn& p = process(pid);
      ThreadIn& t = p.thread(text(e, "s") == "p" ? pid : tid);
      seen(p, t, ts);
      t.instants.push_back(std::move(in));
      continue;
    }
    if (ph == "C") {
      ProcessIn& p = process(pid);
      auto obj = e["args"].get_object();
      if (obj.error()) continue;
      simdjson::dom::object fields = obj.value();
      std::string id = text(e, "id");
      for (auto field : fields) {
        auto v = field.value.get_double();
        if (v.error()) continue;
        std::string series = name + (id.empty() ? "" : " id: " + id) + " " + std::string(field.key);
        TimelineCounter& c = p.counters[series];
        c.name = series;
        c.points.emplace_back(ts, v.value());
        ++stats.counter_values;
        p.first = std::min(p.first, ts);
        p.last = std::max(p.last, ts);
        last_ts = std::max(last_ts, ts);
      }
      continue;
    }
    ++stats.skipped[ph.empty() ? "(none)" : ph];
  }

  // Build the processes: by first event; the main thread first, then threads by first event.
  for (ProcessIn& p : procs) {
    for (ThreadIn& t : p.threads)
      for (TimelineSlice& s : t.open) {  // a B never closed ends with the trace
        s.end = std::max(last_ts, s.start);
        t.slices.push_back(std::move(s));
        ++stats.unclosed_begins;
        ++stats.slices;
      }
  }
  std::stable_sort(procs.begin(), procs.end(),
                   [](const ProcessIn& a, const ProcessIn& b) { return a.first < b.first; });
  for (ProcessIn& p : procs) {
    bool has_events = !p.counters.empty();
    for (const ThreadIn& t : p.threads)
      has_events = has_events || !t.slices.empty() || !t.instants.empty();
    if (!has_events) continue;  // names only (e.g. viztrace's own pid, whose events are global)
    TimelineProcess& tp = tl.processes.emplace_back();
    tp.pid = static_cast<std::uint32_t>(p.json_pid);
    tp.name = p.name.empty() ? "pid " + std::to_string(p.json_pid) : p.name;
    tp.start = p.first == UINT64_MAX ? 0 : p.first;
    tp.end = std::max(p.last, tp.start);
    std::stable_sort(p.threads.begin(), p.threads.end(), [&](const ThreadIn& a, const ThreadIn& b) {
      if ((a.tid == p.json_pid) != (b.tid == p.json_pid)) return a.tid == p.json_pid;
      return a.first < b.first;
    });
    for (ThreadIn& t : p.threads) {
      if (t.slices.empty() && t.instants.empty()) continue;
      TimelineThread& tt = tp.threads.emplace_back();
      tt.tid = static_cast<std::uint32_t>(t.tid);
      tt.name = !t.name.empty()       ? t.name
                : t.tid == p.json_pid ? tp.name
                                      : "thread " + std::to_string(t.tid);
      tt.slices = std::move(t.slices);
      tt.instants = std::move(t.instants);
      // What our own process spans say about the process: real pid, ppid, argv, how it ended.
      for (const TimelineSlice& s : tt.slices) {
        if (s.kind != SliceKind::process) continue;
        if (const Arg* a = find_arg(s.args, "pid"); a && a->kind == Arg::Kind::integer) {
          tp.pid = static_cast<std::uint32_t>(a->integer);
          if (tt.tid == static_cast<std::uint32_t>(p.json_pid)) tt.tid = tp.pid;
        }
        if (const Arg* a = find_arg(s.args, "ppid"); a && a->kind == Arg::Kind::integer)
          tp.ppid = static_cast<std::uint32_t>(a->integer);
        if (const Arg* a = find_arg(s.args, "argv"); a && a->kind == Arg::Kind::array) {
          tp.argv.clear();
          for (const Arg& item : a->items) tp.argv.push_back(item.text);
        }
        if (const Arg* a = find_arg(s.args, "exit_code"); a && a->kind == Arg::Kind::integer)
          tp.status = "exit " + std::to_string(a->integer);
        if (const Arg* a = find_arg(s.args, "signal_name"); a && a->kind == Arg::Kind::text)
          tp.status = a->text;
        if (find_arg(s.args, "target")) tp.is_target = true;
        if (const Arg* a = find_arg(s.args, "unfinished");
            a && a->kind == Arg::Kind::boolean && a->integer && tp.status.empty())
          tp.status = "unfinished";
      }
    }
    // Without our args, a pid beyond Linux's pid range is a viztrace pid reuse: the real pid.
    if (tp.pid >= kPidReuseStep) tp.pid %= kPidReuseStep;
    for (auto& [series, c] : p.counters) tp.counters.push_back(std::move(c));
  }

  tl.global.name = "global";
  tl.origin = 0;
  for (const TimelineProcess& p : tl.processes) tl.end = std::max(tl.end, p.end);
  tl.end = std::max(tl.end, last_ts);
  if (const Arg* cmd = find_arg(tl.metadata, "command"); cmd && cmd->kind == Arg::Kind::array) {
    std::vector<std::string> words;
    for (const Arg& a : cmd->items) words.push_back(a.text);
    tl.title = shell_command(words);
  }
  if (tl.title.empty()) {
    std::size_t slash = path.rfind('/');
    tl.title = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  if (const Arg* st = find_arg(tl.metadata, "exit_status"); st && st->kind == Arg::Kind::dict) {
    if (const Arg* a = find_arg(st->items, "exit_code"))
      tl.status = "exit " + std::to_string(a->integer);
    if (const Arg* a = find_arg(st->items, "signal_name")) tl.status = a->text;
  }
  if (const Arg* lost = find_arg(tl.metadata, "lost"); lost && lost->kind == Arg::Kind::dict)
    for (const char* key : {"dropped_records", "seq_gaps", "bad_chunks", "spill_lost",
                            "no_space_threads", "argv_cut"})
      if (const Arg* a = find_arg(lost->items, key))
        tl.lost += static_cast<std::uint64_t>(std::max<std::int64_t>(0, a->integer));
  // The metadata on a slice over the whole trace, as viztrace's own reports carry it.
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
  stats.cut = tl.normalize();
  return tl;
}

}  // namespace viztrace::report
