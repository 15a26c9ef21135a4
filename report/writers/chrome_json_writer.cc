#include "report/writers/chrome_json_writer.h"

#include <algorithm>
#include <cstring>

namespace viztrace::report {
namespace {

class StringSink final : public ByteSink {
 public:
  void write(const char* data, std::size_t n) override { text.append(data, n); }
  std::string text;
};

}  // namespace

void ChromeJsonWriter::begin_event(const char* ph, std::string_view name, std::uint32_t pid,
                                   std::uint32_t tid) {
  json_.begin_object(true);
  json_.member("ph", ph);
  json_.member("name", name);
  json_.member("pid", pid);
  json_.member("tid", tid);
}

void ChromeJsonWriter::metadata_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                                      std::string_view value) {
  begin_event("M", name, pid, tid);
  json_.key("args");
  json_.begin_object();
  json_.member("name", value);
  json_.end_object();
  json_.end_object();
}

void ChromeJsonWriter::sort_index_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                                        std::uint64_t index) {
  begin_event("M", name, pid, tid);
  json_.key("args");
  json_.begin_object();
  json_.member("sort_index", index);
  json_.end_object();
  json_.end_object();
}

void ChromeJsonWriter::time_member(const char* key, std::uint64_t ts) {
  json_.key(key);
  json_.fixed3(ts > origin_ ? ts - origin_ : 0);
}

void ChromeJsonWriter::arg_value(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::null:
      json_.null();
      break;
    case Arg::Kind::boolean:
      json_.boolean(a.integer != 0);
      break;
    case Arg::Kind::integer:
      json_.integer(a.integer);
      break;
    case Arg::Kind::real:
      json_.real(a.real);
      break;
    case Arg::Kind::fixed3:
      json_.fixed3(static_cast<std::uint64_t>(a.integer));
      break;
    case Arg::Kind::text:
      json_.string(a.text);
      break;
    case Arg::Kind::array:
      json_.begin_array();
      for (const Arg& item : a.items) arg_value(item);
      json_.end_array();
      break;
    case Arg::Kind::dict:
      json_.begin_object();
      args_members(a.items);
      json_.end_object();
      break;
  }
}

void ChromeJsonWriter::args_members(const Args& args) {
  for (const Arg& a : args) {
    json_.text_key(a.key);
    arg_value(a);
  }
}

void ChromeJsonWriter::begin(const Timeline& trace, const FunctionPass* names) {
  trace_ = &trace;
  names_ = names;
  origin_ = trace.origin;
  json_.begin_object();
  json_.key("traceEvents");
  json_.begin_array();
  for (std::size_t i = 0; i < trace.processes.size(); ++i) write_process(trace.processes[i], i);
  // Trace-wide instants and counters sit on viztrace's own pid: name it, or viewers show a bare
  // "Process N".
  const std::uint32_t own = trace.global.tid;
  const bool on_own = !trace.counters.empty() ||
                      std::any_of(trace.global.instants.begin(), trace.global.instants.end(),
                                  [&](const TimelineInstant& in) { return in.pid == own; });
  const bool named = std::any_of(trace.processes.begin(), trace.processes.end(),
                                 [&](const TimelineProcess& p) { return p.json_pid() == own; });
  if (own != 0 && on_own && !named) {
    metadata_event("process_name", own, own, trace.global.name);
    sort_index_event("process_sort_index", own, own, trace.processes.size());
  }
  write_instants();
  write_counters(trace.counters, own);
  for (const TimelineProcess& p : trace.processes) write_counters(p.counters, p.json_pid());
}

void ChromeJsonWriter::write_process(const TimelineProcess& p, std::uint64_t sort_index) {
  const std::uint32_t pid = p.json_pid();
  metadata_event("process_name", pid, pid, p.name);
  sort_index_event("process_sort_index", pid, pid, sort_index);
  std::uint64_t thread_index = 0;
  for (const TimelineThread& t : p.threads) {
    const std::uint32_t tid = t.tid == p.pid ? pid : t.tid;  // a reused pid's main thread: its json pid
    metadata_event("thread_name", pid, tid, t.name);
    sort_index_event("thread_sort_index", pid, tid, thread_index++);
    for (const TimelineSlice& s : t.slices) {
      begin_event("X", trace_->names[s.name], pid, tid);
      json_.member("cat", category_name(s.kind));
      time_member("ts", s.start);
      json_.key("dur");
      json_.fixed3(s.end > s.start ? s.end - s.start : 0);
      json_.key("args");
      json_.begin_object();
      args_members(s.args);
      json_.end_object();
      json_.end_object();
    }
  }
}

void ChromeJsonWriter::write_instants() {
  // In time order across threads, each with its thread's ids.
  struct Placed {
    const TimelineInstant* in;
    std::uint32_t pid, tid;
    bool global;
  };
  std::vector<Placed> all;
  const std::uint32_t own = trace_->global.tid;
  for (const TimelineInstant& in : trace_->global.instants)
    all.push_back({&in, in.pid ? in.pid : own, in.pid ? in.tid : own, true});
  for (const TimelineProcess& p : trace_->processes)
    for (const TimelineThread& t : p.threads)
      for (const TimelineInstant& in : t.instants) all.push_back({&in, p.json_pid(), t.tid, false});
  std::stable_sort(all.begin(), all.end(),
                   [](const Placed& a, const Placed& b) { return a.in->ts < b.in->ts; });
  for (const Placed& x : all) {
    begin_event("i", trace_->names[x.in->name], x.pid, x.tid);
    json_.member("s", x.global ? "g" : "t");
    if (!x.in->category.empty()) json_.member("cat", x.in->category);
    time_member("ts", x.in->ts);
    json_.key("args");
    json_.begin_object();
    args_members(x.in->args);
    json_.end_object();
    json_.end_object();
  }
}

void ChromeJsonWriter::write_counters(const std::vector<TimelineCounter>& counters,
                                      std::uint32_t pid) {
  for (const TimelineCounter& c : counters) {
    for (const auto& [ts, value] : c.points) {
      begin_event("C", c.name, pid, pid);
      json_.member("cat", "counter");
      time_member("ts", ts);
      json_.key("args");
      json_.begin_object();
      json_.text_key(c.name);
      json_.real(value);
      json_.end_object();
      json_.end_object();
    }
  }
}

const std::string& ChromeJsonWriter::name_member(std::uint32_t id, std::string_view name) {
  if (id >= name_members_.size()) name_members_.resize(id + 1);
  std::string& member = name_members_[id];
  if (member.empty()) {
    StringSink sink;
    {
      JsonWriter json(sink, 4096);
      json.begin_object();
      json.member("name", name);
      json.end_object();
      json.flush();
    }
    member = sink.text.substr(1, sink.text.size() - 2);  // {"name":"..."} -> "name":"..."
  }
  return member;
}

void ChromeJsonWriter::write_function(const FunctionSlice& f, std::string_view name) {
  const std::string& member = name_member(f.name, name);
  static constexpr std::string_view kHead = R"({"ph":"X","cat":"function",)";
  static constexpr std::string_view kUnfinished = R"(,"args":{"unfinished":true})";
  const std::size_t need = kHead.size() + member.size() + 128 + kUnfinished.size();
  // Straight into the writer's buffer; a name too long for that goes through scratch.
  const bool in_place = need <= json_.raw_limit();
  if (!in_place && scratch_.size() < need) scratch_.resize(need);
  char* const out = in_place ? json_.begin_raw(need, true) : scratch_.data();
  char* p = out;
  auto put = [&](std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  };
  std::uint64_t s = f.start > origin_ ? f.start - origin_ : 0;
  std::uint64_t e = f.end > origin_ ? f.end - origin_ : 0;
  if (ids_length_ == 0 || f.pid != ids_pid_ || f.tid != ids_tid_) {
    char* q = ids_;
    auto add = [&](std::string_view text) {
      std::memcpy(q, text.data(), text.size());
      q += text.size();
    };
    add(R"(,"pid":)");
    q = write_decimal(q, f.pid);
    add(R"(,"tid":)");
    q = write_decimal(q, f.tid);
    add(R"(,"ts":)");
    ids_length_ = static_cast<std::size_t>(q - ids_);
    ids_pid_ = f.pid;
    ids_tid_ = f.tid;
  }
  put(kHead);
  put(member);
  put(std::string_view(ids_, ids_length_));
  p = write_fixed3(p, s);
  put(R"(,"dur":)");
  p = write_fixed3(p, e > s ? e - s : 0);
  if (f.unfinished) put(kUnfinished);
  *p++ = '}';
  if (in_place) json_.end_raw(p);
  else json_.raw_value(std::string_view(out, static_cast<std::size_t>(p - out)), true);
}

// The Trace Event Format's sampled stacks: "stackFrames" (a tree: id -> name, category, parent)
// and "samples" (tid, ts, sf: the innermost frame's id, none when no frame is known, weight: the
// CPU time in µs).
void ChromeJsonWriter::write_samples() {
  const Timeline& tl = *trace_;
  if (tl.stack_nodes.size() <= 1 && tl.sample_count() == 0) return;
  json_.key("stackFrames");
  json_.begin_object();
  for (std::uint32_t i = 1; i < tl.stack_nodes.size(); ++i) {
    const StackNode& node = tl.stack_nodes[i];
    const TimelineFrame& frame = tl.frames[node.frame];
    json_.key(std::to_string(i));
    json_.begin_object(true);
    json_.member("name", tl.names[frame.name]);
    json_.member("category", frame.module ? tl.names[frame.module] : std::string_view("[unknown]"));
    if (node.parent != 0) json_.member("parent", std::to_string(node.parent));
    json_.end_object();
  }
  json_.end_object();
  json_.key("samples");
  json_.begin_array();
  for (const TimelineProcess& p : tl.processes)
    for (const TimelineThread& t : p.threads)
      for (const TimelineSample& s : t.samples) {
        json_.begin_object(true);
        json_.member("pid", p.json_pid());
        json_.member("tid", t.tid);
        time_member("ts", s.ts);
        json_.member("name", "cpu-clock");
        if (s.stack != 0) json_.member("sf", std::to_string(s.stack));
        json_.key("weight");
        json_.fixed3(s.weight_ns);
        json_.end_object();
      }
  json_.end_array();
}

void ChromeJsonWriter::finish() {
  json_.end_array();
  write_samples();
  json_.member("displayTimeUnit", "ns");
  json_.key("metadata");
  json_.begin_object();
  args_members(trace_->metadata);
  json_.end_object();
  json_.end_object();
  json_.newline();
  json_.flush();
}

}  // namespace viztrace::report
