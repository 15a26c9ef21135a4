#include "report/model/timeline.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "report/model/shell_words.h"

#ifndef VIZTRACE_VERSION
#error "VIZTRACE_VERSION must be defined (report/CMakeLists.txt)"
#endif

namespace viztrace::report {
namespace {

std::string iso8601_utc(std::uint64_t realtime_ns) {
  std::time_t secs = static_cast<std::time_t>(realtime_ns / 1000000000u);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03uZ",
                static_cast<unsigned>(realtime_ns / 1000000u % 1000u));
  return buf;
}

void exit_status_args(const ExitStatus& s, Args& args) {
  if (s.kind == ExitStatus::Kind::exited) {
    args.push_back(Arg::of("exit_code", s.code));
  } else if (s.kind == ExitStatus::Kind::signaled) {
    args.push_back(Arg::of("signal", s.signal));
    args.push_back(Arg::of("signal_name", signal_name(s.signal)));
    if (s.core_dumped) args.push_back(Arg::of("core_dumped", true));
  }
}

// The args the JSON report gives an image's X event.
Args image_args(const Process& p, const Image& im) {
  const bool last = &im == &p.images.back();
  Args args;
  args.reserve(16);
  std::vector<std::string> argv = im.argv;
  if (argv.empty() && !im.exe.empty()) argv = {im.exe};
  if (argv.empty() && !im.path.empty()) argv = {im.path};
  args.push_back(Arg::array_of("argv", argv));
  if (im.argv.empty()) args.push_back(Arg::of("argv_unknown", true));
  if (im.argv_cut) {
    auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
    args.push_back(
        Arg::dict_of("argv_truncated", {Arg::of("arguments_left_out", n(im.argv_cut->arguments)),
                                        Arg::of("bytes_left_out", n(im.argv_cut->bytes))}));
  }
  if (!im.exe.empty()) args.push_back(Arg::of("exe", im.exe));
  if (!im.path.empty() && im.path != im.exe) args.push_back(Arg::of("path", im.path));
  if (!im.cwd.empty()) args.push_back(Arg::of("cwd", im.cwd));
  args.push_back(Arg::of("ppid", p.ppid));
  args.push_back(Arg::of("pid", p.pid));
  if (p.ns_pid) args.push_back(Arg::of("ns_pid", p.ns_pid));
  if (last) {
    exit_status_args(p.status, args);
    auto ms = [](std::uint64_t ns) { return ns / 1000; };  // thousandths of a millisecond
    if (p.cpu) {
      args.push_back(Arg::fixed3_of("utime_ms", ms(p.cpu->user_ns)));
      args.push_back(Arg::fixed3_of("stime_ms", ms(p.cpu->system_ns)));
    }
    if (p.max_rss_kb)
      args.push_back(Arg::of("max_rss_kb", static_cast<std::int64_t>(*p.max_rss_kb)));
    if (p.cpu_with_children) {
      args.push_back(Arg::fixed3_of("utime_ms_with_children", ms(p.cpu_with_children->user_ns)));
      args.push_back(Arg::fixed3_of("stime_ms_with_children", ms(p.cpu_with_children->system_ns)));
    }
  }
  args.push_back(Arg::of("started_by", im.started_by));
  if (im.exe_flags) args.push_back(Arg::of("exe_kind", exe_flag_names(im.exe_flags)));
  args.push_back(Arg::of("traced", im.traced));
  if (&im == &p.images.front() && p.start_unknown) args.push_back(Arg::of("start_unknown", true));
  if (last && p.end_unknown) {  // its slice ends at the last thing known, or the run's end
    args.push_back(Arg::of("end_unknown", true));
    args.push_back(Arg::of("unfinished", true));
  }
  if (last && p.is_target) args.push_back(Arg::of("target", true));
  return args;
}

Args instant_args(const Instant& in) {
  Args args;
  for (const auto& [k, v] : in.text_args) args.push_back(Arg::of(k, v));
  for (const auto& [k, v] : in.number_args) args.push_back(Arg::of(k, v));
  if (!in.argv.empty()) args.push_back(Arg::array_of("argv", in.argv));
  return args;
}

Args session_metadata(const TraceModel& model) {
  Args meta;
  meta.push_back(Arg::of("viztrace_version", VIZTRACE_VERSION));
  meta.push_back(Arg::array_of("command", model.session.command));
  if (model.session.known) {
    meta.push_back(Arg::of("cwd", model.session.cwd));
    meta.push_back(Arg::of("start_time", iso8601_utc(model.session.realtime_ns)));
  }
  meta.push_back(Arg::fixed3_of("duration_ms", (model.end - model.origin) / 1000));
  const Process* target = model.target ? &model.processes[*model.target] : nullptr;
  if (target && target->status.known()) {
    Args status;
    exit_status_args(target->status, status);
    meta.push_back(Arg::dict_of("exit_status", std::move(status)));
  } else {
    meta.push_back(Arg::null_of("exit_status"));
  }
  meta.push_back(Arg::of("processes", static_cast<std::int64_t>(model.processes.size())));
  meta.push_back(Arg::of("threads", static_cast<std::int64_t>(model.thread_count())));
  meta.push_back(Arg::of("events", static_cast<std::int64_t>(model.events)));
  auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  const TraceModel::NotEntered ne = model.not_entered();
  meta.push_back(Arg::dict_of("not_entered", {Arg::of("total", n(ne.total)),
                                              Arg::of("static", n(ne.static_binary)),
                                              Arg::of("setuid", n(ne.setuid)),
                                              Arg::of("other", n(ne.other))}));
  const LossCounts& l = model.lost;
  meta.push_back(Arg::dict_of("lost", {Arg::of("dropped_records", n(l.dropped_records)),
                                       Arg::of("seq_gaps", n(l.seq_gaps)),
                                       Arg::of("bad_chunks", n(l.bad_chunks)),
                                       Arg::of("bad_bytes", n(l.bad_bytes)),
                                       Arg::of("spill_lost", n(l.spill_lost)),
                                       Arg::of("damaged_bytes", n(l.damaged_bytes)),
                                       Arg::of("no_space_records", n(l.no_space_records)),
                                       Arg::of("no_space_threads", n(l.no_space_threads)),
                                       Arg::of("argv_cut", n(l.argv_cut)),
                                       Arg::of("argv_arguments_left_out",
                                               n(l.argv_arguments_left_out))}));
  const AnnotationCounts& a = model.annotations;
  meta.push_back(Arg::dict_of("annotations",
                              {Arg::of("spans", n(a.spans)),
                               Arg::of("unfinished_spans", n(a.unfinished_spans)),
                               Arg::of("unmatched_span_ends", n(a.unmatched_span_ends)),
                               Arg::of("marks", n(a.marks)),
                               Arg::of("counter_samples", n(a.counter_samples))}));
  return meta;
}

}  // namespace

Arg Arg::of(std::string key, std::string_view text) {
  Arg a;
  a.kind = Kind::text;
  a.key = std::move(key);
  a.text = text;
  return a;
}

Arg Arg::of(std::string key, std::int64_t v) {
  Arg a;
  a.kind = Kind::integer;
  a.key = std::move(key);
  a.integer = v;
  return a;
}

Arg Arg::of(std::string key, bool v) {
  Arg a;
  a.kind = Kind::boolean;
  a.key = std::move(key);
  a.integer = v;
  return a;
}

Arg Arg::real_of(std::string key, double v) {
  Arg a;
  a.kind = Kind::real;
  a.key = std::move(key);
  a.real = v;
  return a;
}

Arg Arg::fixed3_of(std::string key, std::uint64_t thousandths) {
  Arg a;
  a.kind = Kind::fixed3;
  a.key = std::move(key);
  a.integer = static_cast<std::int64_t>(thousandths);
  return a;
}

Arg Arg::null_of(std::string key) {
  Arg a;
  a.key = std::move(key);
  return a;
}

double Arg::number() const {
  switch (kind) {
    case Kind::boolean:
    case Kind::integer:
      return static_cast<double>(integer);
    case Kind::fixed3:
      return static_cast<double>(integer) / 1000;
    case Kind::real:
      return real;
    default:
      return 0;
  }
}

Arg Arg::array_of(std::string key, const std::vector<std::string>& texts) {
  Arg a;
  a.kind = Kind::array;
  a.key = std::move(key);
  for (const std::string& t : texts) a.items.push_back(of("", t));
  return a;
}

Arg Arg::dict_of(std::string key, std::vector<Arg> items) {
  Arg a;
  a.kind = Kind::dict;
  a.key = std::move(key);
  a.items = std::move(items);
  return a;
}

const char* category_name(SliceKind kind) {
  switch (kind) {
    case SliceKind::process:
      return "process";
    case SliceKind::thread:
      return "thread";
    case SliceKind::function:
      return "function";
    case SliceKind::session:
      return "viztrace";
    case SliceKind::span:
      break;
  }
  return "span";
}

std::uint32_t Timeline::intern(std::string_view name) {
  if (index_.empty())
    for (std::uint32_t i = 0; i < names.size(); ++i) index_.emplace(names[i], i);
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  auto id = static_cast<std::uint32_t>(names.size());
  names.emplace_back(name);
  index_.emplace(names.back(), id);
  return id;
}

std::uint32_t Timeline::intern_frame(const TimelineFrame& frame) {
  // A function of a module is one frame: its first source position found stands for it.
  std::uint64_t key = std::uint64_t{frame.name} << 32 | frame.module;
  key ^= frame.inlined ? 1ull << 63 : 0;
  auto [it, fresh] = frame_index_.try_emplace(key, static_cast<std::uint32_t>(frames.size()));
  if (fresh) frames.push_back(frame);
  return it->second;
}

std::uint32_t Timeline::intern_stack(std::uint32_t parent, std::uint32_t frame) {
  auto [it, fresh] = stack_index_.try_emplace(std::uint64_t{parent} << 32 | frame,
                                              static_cast<std::uint32_t>(stack_nodes.size()));
  if (fresh) stack_nodes.push_back({parent, frame});
  return it->second;
}

std::uint64_t Timeline::sample_count() const {
  std::uint64_t n = 0;
  for (const TimelineProcess& p : processes)
    for (const TimelineThread& t : p.threads) n += t.samples.size();
  return n;
}

std::uint64_t Timeline::normalize() {
  std::uint64_t cut = 0;
  auto by_ts = [](const auto& a, const auto& b) { return a.ts < b.ts; };
  auto fix = [&](TimelineThread& t) {
    cut += sort_and_nest(t.slices);
    if (!std::is_sorted(t.instants.begin(), t.instants.end(), by_ts))
      std::stable_sort(t.instants.begin(), t.instants.end(), by_ts);
  };
  fix(global);
  for (TimelineCounter& c : counters)
    std::stable_sort(c.points.begin(), c.points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  for (TimelineProcess& p : processes) {
    for (TimelineThread& t : p.threads) fix(t);
    for (TimelineCounter& c : p.counters)
      std::stable_sort(c.points.begin(), c.points.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return cut;
}

std::unordered_map<std::uint32_t, std::size_t> processes_by_json_pid(const Timeline& tl) {
  std::unordered_map<std::uint32_t, std::size_t> index;
  for (std::size_t i = 0; i < tl.processes.size(); ++i)
    index.emplace(tl.processes[i].json_pid(), i);
  return index;
}

std::uint64_t Timeline::slice_count() const {
  std::uint64_t n = global.slices.size();
  for (const TimelineProcess& p : processes)
    for (const TimelineThread& t : p.threads) n += t.slices.size();
  return n;
}

std::uint64_t Timeline::instant_count() const {
  std::uint64_t n = global.instants.size();
  for (const TimelineProcess& p : processes)
    for (const TimelineThread& t : p.threads) n += t.instants.size();
  return n;
}

std::string exit_status_text(const ExitStatus& s) {
  switch (s.kind) {
    case ExitStatus::Kind::exited:
      return "exit " + std::to_string(s.code);
    case ExitStatus::Kind::signaled:
      return signal_name(s.signal) + (s.core_dumped ? " (core dumped)" : "");
    default:
      return "";
  }
}

Timeline timeline_from_model(const TraceModel& model) {
  Timeline tl;
  tl.origin = model.origin;
  tl.end = std::max(model.end, model.origin);
  if (model.session.known) tl.realtime_ns = model.session.realtime_ns;
  auto clamp = [&](std::uint64_t t) { return std::max(t, model.origin); };
  const Process* target = model.target ? &model.processes[*model.target] : nullptr;
  const std::vector<std::string>& command = !model.session.command.empty() ? model.session.command
                                            : target ? target->images.front().argv
                                                     : model.session.command;
  tl.title = shell_command(command);
  if (target) tl.status = exit_status_text(target->status);
  tl.metadata = session_metadata(model);
  tl.lost = model.lost.total();

  // The session: one slice over the whole trace, carrying the metadata.
  TimelineSlice session;
  session.start = tl.origin;
  session.end = tl.end;
  session.name = tl.intern("viztrace run");
  session.kind = SliceKind::session;
  session.args = tl.metadata;
  tl.global.tid = model.session.viztrace_pid;
  tl.global.name = "viztrace";
  tl.global.slices.push_back(std::move(session));

  std::unordered_map<std::uint32_t, std::size_t> by_json_pid;
  tl.processes.reserve(model.processes.size() + 1);
  for (const Process& p : model.processes) {
    by_json_pid.emplace(p.json_pid, tl.processes.size());
    TimelineProcess& tp = tl.processes.emplace_back();
    tp.pid = p.pid;
    tp.trace_pid = p.json_pid;
    tp.ppid = p.ppid;
    tp.name = p.name();
    tp.start = clamp(p.start);
    tp.end = clamp(p.end);
    tp.argv = p.images.back().argv;
    tp.status = exit_status_text(p.status);
    if (tp.status.empty() && p.end_unknown) tp.status = "unfinished";
    tp.is_target = p.is_target;
    tp.threads.reserve(1 + p.threads.size());
    TimelineThread& main = tp.threads.emplace_back();
    main.tid = p.pid;
    main.slices.reserve(p.images.size());
    main.name = tp.name;
    for (const Image& im : p.images) {
      TimelineSlice& s = main.slices.emplace_back();
      s.start = clamp(im.start);
      s.end = clamp(im.end);
      std::string name = im.name();
      s.name = tl.intern(name.empty() ? "pid " + std::to_string(p.pid) : name);
      s.kind = SliceKind::process;
      s.args = image_args(p, im);
    }
    for (const Thread& t : p.threads) {
      TimelineThread& tt = tp.threads.emplace_back();
      tt.tid = t.tid;
      tt.name = t.name;
      TimelineSlice& s = tt.slices.emplace_back();
      s.start = clamp(t.start);
      s.end = clamp(t.end);
      s.name = tl.intern(t.name);
      s.kind = SliceKind::thread;
      s.args.push_back(Arg::of("tid", t.tid));
      if (t.end_unknown) s.args.push_back(Arg::of("end_unknown", true));
      if (t.end_unknown && p.end_unknown && t.end == p.end)
        s.args.push_back(Arg::of("unfinished", true));
    }
  }

  // The track of (json pid, tid), made when the model has none (viztrace's own pid).
  auto thread_of = [&](std::uint32_t pid, std::uint32_t tid, std::uint64_t ts) -> TimelineThread& {
    auto it = by_json_pid.find(pid);
    if (it == by_json_pid.end()) {
      it = by_json_pid.emplace(pid, tl.processes.size()).first;
      TimelineProcess& tp = tl.processes.emplace_back();
      tp.pid = pid;
      tp.name = pid == model.session.viztrace_pid && model.session.known
                    ? "viztrace"
                    : "pid " + std::to_string(pid);
      tp.start = tp.end = ts;
      tp.threads.emplace_back().tid = pid;
      tp.threads.back().name = tp.name;
    }
    TimelineProcess& tp = tl.processes[it->second];
    auto t = std::find_if(tp.threads.begin(), tp.threads.end(),
                          [&](const TimelineThread& x) { return x.tid == tid; });
    if (t == tp.threads.end()) {
      t = tp.threads.emplace(tp.threads.end());
      t->tid = tid;
      t->name = "thread " + std::to_string(tid);
    }
    return *t;
  };
  for (const Instant& in : model.instants) {
    TimelineInstant ti;
    ti.ts = clamp(in.ts);
    ti.name = tl.intern(in.name);
    ti.category = in.category;
    ti.args = instant_args(in);
    if (in.global) ti.pid = in.pid, ti.tid = in.tid;
    if (in.global) tl.global.instants.push_back(std::move(ti));
    else thread_of(in.pid, in.tid, ti.ts).instants.push_back(std::move(ti));
  }
  for (const Span& sp : model.spans) {
    TimelineSlice s;
    s.start = clamp(sp.start);
    s.end = clamp(sp.end);
    s.name = tl.intern(sp.name);
    s.kind = SliceKind::span;
    for (const auto& [k, v] : sp.text_args) s.args.push_back(Arg::of(k, v));
    for (const auto& [k, v] : sp.number_args) s.args.push_back(Arg::of(k, v));
    if (sp.unfinished) s.args.push_back(Arg::of("unfinished", true));
    thread_of(sp.pid, sp.tid, s.start).slices.push_back(std::move(s));
  }
  for (const Counter& c : model.counters) {
    TimelineCounter& tc = tl.counters.emplace_back();
    tc.name = c.name;
    for (const auto& [ts, value] : c.samples) tc.points.emplace_back(clamp(ts), value);
  }
  tl.normalize();
  return tl;
}

}  // namespace viztrace::report
