#include "report/writers/chrome_json_writer.h"

#include <cstring>

#include "report/model/function_pass.h"

#include <ctime>

#ifndef VIZTRACE_VERSION
#error "VIZTRACE_VERSION must be defined (report/CMakeLists.txt)"
#endif

namespace viztrace::report {
namespace {

class StringSink final : public ByteSink {
 public:
  void write(const char* data, std::size_t n) override { text.append(data, n); }
  std::string text;
};

// "2024-05-01T12:34:56.789Z"
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

}  // namespace

void ChromeJsonWriter::begin() {
  json_.begin_object();
  json_.key("traceEvents");
  json_.begin_array();
}

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

// ts and dur of [start, end], clamped to the session start so spans keep nesting.
void ChromeJsonWriter::span(const char* cat, std::uint64_t start, std::uint64_t end) {
  std::uint64_t s = start > origin_ ? start - origin_ : 0;
  std::uint64_t e = end > origin_ ? end - origin_ : 0;
  json_.member("cat", cat);
  json_.key("ts");
  json_.fixed3(s);
  json_.key("dur");
  json_.fixed3(e > s ? e - s : 0);
}

// Rendered in one piece: the report may hold hundreds of millions of these.
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

void ChromeJsonWriter::argv_member(const std::vector<std::string>& argv) {
  json_.key("argv");
  json_.begin_array();
  for (const std::string& a : argv) json_.string(a);
  json_.end_array();
}

void ChromeJsonWriter::exit_status_members(const ExitStatus& status) {
  if (status.kind == ExitStatus::Kind::exited) {
    json_.member("exit_code", status.code);
  } else if (status.kind == ExitStatus::Kind::signaled) {
    json_.member("signal", status.signal);
    json_.member("signal_name", signal_name(status.signal));
    if (status.core_dumped) json_.member("core_dumped", true);
  }
}

void ChromeJsonWriter::write_processes(const TraceModel& model) {
  origin_ = model.origin;
  std::uint64_t sort_index = 0;
  for (const Process& p : model.processes) {
    const std::uint32_t pid = p.json_pid;
    const std::string name = p.name();
    metadata_event("process_name", pid, pid, name);
    sort_index_event("process_sort_index", pid, pid, sort_index++);
    metadata_event("thread_name", pid, pid, name);
    sort_index_event("thread_sort_index", pid, pid, 0);

    for (const Image& im : p.images) {
      const bool last = &im == &p.images.back();
      std::string im_name = im.name();
      begin_event("X", im_name.empty() ? "pid " + std::to_string(p.pid) : im_name, pid, pid);
      span("process", im.start, im.end);
      json_.key("args");
      json_.begin_object();
      // argv is never empty in a report: fall back to what names the program.
      if (!im.argv.empty())
        argv_member(im.argv);
      else if (!im.exe.empty())
        argv_member({im.exe});
      else if (!im.path.empty())
        argv_member({im.path});
      else
        argv_member({});
      if (im.argv.empty()) json_.member("argv_unknown", true);
      if (im.argv_cut) {
        json_.key("argv_truncated");
        json_.begin_object();
        json_.member("arguments_left_out", im.argv_cut->arguments);
        json_.member("bytes_left_out", im.argv_cut->bytes);
        json_.end_object();
      }
      if (!im.exe.empty()) json_.member("exe", im.exe);
      if (!im.path.empty() && im.path != im.exe) json_.member("path", im.path);
      if (!im.cwd.empty()) json_.member("cwd", im.cwd);
      json_.member("ppid", p.ppid);
      json_.member("pid", p.pid);
      if (p.ns_pid) json_.member("ns_pid", p.ns_pid);
      if (last) {
        exit_status_members(p.status);
        if (p.cpu) {
          json_.key("utime_ms");
          json_.fixed3(p.cpu->user_ns / 1000);
          json_.key("stime_ms");
          json_.fixed3(p.cpu->system_ns / 1000);
        }
        if (p.max_rss_kb) json_.member("max_rss_kb", *p.max_rss_kb);
        if (p.cpu_with_children) {
          json_.key("utime_ms_with_children");
          json_.fixed3(p.cpu_with_children->user_ns / 1000);
          json_.key("stime_ms_with_children");
          json_.fixed3(p.cpu_with_children->system_ns / 1000);
        }
      }
      json_.member("started_by", im.started_by);
      if (im.exe_flags) json_.member("exe_kind", exe_flag_names(im.exe_flags));
      json_.member("traced", im.traced);
      if (&im == &p.images.front() && p.start_unknown) json_.member("start_unknown", true);
      if (last && p.end_unknown) {  // its slice ends at the last thing known, or the run's end
        json_.member("end_unknown", true);
        json_.member("unfinished", true);
      }
      if (last && p.is_target) json_.member("target", true);
      json_.end_object();
      json_.end_object();
    }

    std::uint64_t thread_index = 1;
    for (const Thread& t : p.threads) {
      metadata_event("thread_name", pid, t.tid, t.name);
      sort_index_event("thread_sort_index", pid, t.tid, thread_index++);
      begin_event("X", t.name, pid, t.tid);
      span("thread", t.start, t.end);
      json_.key("args");
      json_.begin_object();
      json_.member("tid", t.tid);
      if (t.end_unknown) json_.member("end_unknown", true);
      if (t.end_unknown && p.end_unknown && t.end == p.end) json_.member("unfinished", true);
      json_.end_object();
      json_.end_object();
    }
  }
}

void ChromeJsonWriter::args_members(const TextArgs& text, const NumberArgs& number) {
  for (const auto& [k, v] : text) json_.text_key(k), json_.string(v);
  for (const auto& [k, v] : number) json_.text_key(k), json_.integer(v);
}

void ChromeJsonWriter::name_viztrace_process(const TraceModel& model, std::uint32_t pid) {
  // Events on viztrace's own pid: name that process, or viewers show a bare "Process N".
  if (viztrace_named_ || pid != model.session.viztrace_pid || !model.session.known) return;
  metadata_event("process_name", pid, pid, "viztrace");
  sort_index_event("process_sort_index", pid, pid, model.processes.size());
  viztrace_named_ = true;
}

void ChromeJsonWriter::write_instants(const TraceModel& model) {
  origin_ = model.origin;
  for (const Instant& in : model.instants) {
    name_viztrace_process(model, in.pid);
    begin_event("i", in.name, in.pid, in.tid);
    json_.member("s", in.global ? "g" : "t");
    json_.member("cat", in.category);
    json_.key("ts");
    json_.fixed3(in.ts > origin_ ? in.ts - origin_ : 0);
    json_.key("args");
    json_.begin_object();
    args_members(in.text_args, in.number_args);
    if (!in.argv.empty()) argv_member(in.argv);
    json_.end_object();
    json_.end_object();
  }
}

void ChromeJsonWriter::write_annotations(const TraceModel& model) {
  origin_ = model.origin;
  for (const Span& s : model.spans) {
    begin_event("X", s.name, s.pid, s.tid);
    span("span", s.start, s.end);
    json_.key("args");
    json_.begin_object();
    args_members(s.text_args, s.number_args);
    if (s.unfinished) json_.member("unfinished", true);
    json_.end_object();
    json_.end_object();
  }
  const std::uint32_t pid = model.session.viztrace_pid;
  for (const Counter& c : model.counters) {
    name_viztrace_process(model, pid);
    for (const auto& [ts, value] : c.samples) {
      begin_event("C", c.name, pid, pid);
      json_.member("cat", "counter");
      json_.key("ts");
      json_.fixed3(ts > origin_ ? ts - origin_ : 0);
      json_.key("args");
      json_.begin_object();
      json_.text_key(c.name);
      json_.real(value);
      json_.end_object();
      json_.end_object();
    }
  }
}

void ChromeJsonWriter::end(const TraceModel& model) {
  json_.end_array();
  json_.member("displayTimeUnit", "ns");
  json_.key("metadata");
  json_.begin_object();
  json_.member("viztrace_version", VIZTRACE_VERSION);
  json_.key("command");
  json_.begin_array();
  for (const std::string& a : model.session.command) json_.string(a);
  json_.end_array();
  if (model.session.known) {
    json_.member("cwd", model.session.cwd);
    json_.member("start_time", iso8601_utc(model.session.realtime_ns));
  }
  json_.key("duration_ms");
  json_.fixed3((model.end - model.origin) / 1000);
  json_.key("exit_status");
  const Process* target = model.target ? &model.processes[*model.target] : nullptr;
  if (target && target->status.known()) {
    json_.begin_object();
    exit_status_members(target->status);
    json_.end_object();
  } else {
    json_.null();
  }
  json_.member("processes", static_cast<std::uint64_t>(model.processes.size()));
  json_.member("threads", model.thread_count());
  json_.member("events", model.events);
  const TraceModel::NotEntered ne = model.not_entered();
  json_.key("not_entered");
  json_.begin_object();
  json_.member("total", ne.total);
  json_.member("static", ne.static_binary);
  json_.member("setuid", ne.setuid);
  json_.member("other", ne.other);
  json_.end_object();
  json_.key("lost");
  json_.begin_object();
  json_.member("dropped_records", model.lost.dropped_records);
  json_.member("seq_gaps", model.lost.seq_gaps);
  json_.member("bad_chunks", model.lost.bad_chunks);
  json_.member("bad_bytes", model.lost.bad_bytes);
  json_.member("spill_lost", model.lost.spill_lost);
  json_.member("damaged_bytes", model.lost.damaged_bytes);
  json_.member("no_space_records", model.lost.no_space_records);
  json_.member("no_space_threads", model.lost.no_space_threads);
  json_.member("argv_cut", model.lost.argv_cut);
  json_.member("argv_arguments_left_out", model.lost.argv_arguments_left_out);
  json_.end_object();
  const AnnotationCounts& a = model.annotations;
  json_.key("annotations");
  json_.begin_object();
  json_.member("spans", a.spans);
  json_.member("unfinished_spans", a.unfinished_spans);
  json_.member("unmatched_span_ends", a.unmatched_span_ends);
  json_.member("marks", a.marks);
  json_.member("counter_samples", a.counter_samples);
  json_.end_object();
  json_.end_object();
  json_.end_object();
  json_.newline();
  json_.flush();
}

}  // namespace viztrace::report
