#include "report/writers/html_writer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "report/writers/json_writer.h"
#include "report/model/utf8.h"

namespace viztrace::report {

// The viewer page, from report/writers/html/viewer.html (report/CMakeLists.txt embeds it).
extern const unsigned char kViewerHtml[];
extern const std::size_t kViewerHtmlSize;

namespace {

constexpr std::string_view kPlaceholder = "VIZTRACE_DATA_PLACEHOLDER";
constexpr std::size_t kFlushBytes = 1u << 20;

// Appends the data as JSON that is safe inside a <script> element, handing full buffers on.
class ScriptJson {
 public:
  explicit ScriptJson(ByteSink& sink) : sink_(sink) { out_.reserve(kFlushBytes + 4096); }

  void raw(std::string_view text) {
    out_.append(text);
    maybe_flush();
  }
  void number(std::uint64_t v) {
    char buf[24];
    out_.append(buf, write_decimal(buf, v));
    maybe_flush();
  }
  void signed_number(std::int64_t v) {
    if (v < 0) out_ += '-';
    number(v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v));
  }
  void string(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    out_ += '"';
    for (std::size_t i = 0; i < n;) {
      unsigned char c = p[i];
      if (c >= 0x80) {
        std::size_t len = utf8_sequence_length(p + i, n - i);
        if (len == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
          out_ += p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";  // line breaks to old JS parsers
        } else if (len > 0) {
          out_.append(reinterpret_cast<const char*>(p + i), len);
        } else {  // an invalid byte, shown as the text \xNN
          out_ += "\\\\x";
          out_ += kHex[c >> 4];
          out_ += kHex[c & 15];
          len = 1;
        }
        i += len;
        continue;
      }
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(c);
      } else if (c == '\n') {
        out_ += "\\n";
      } else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
        out_ += "\\u00";  // < > & too: no "</script" or "<!--" can form
        out_ += kHex[c >> 4];
        out_ += kHex[c & 15];
      } else {
        out_ += static_cast<char>(c);
      }
      ++i;
    }
    out_ += '"';
    maybe_flush();
  }
  void flush() {
    if (out_.empty()) return;
    std::string chunk;
    chunk.swap(out_);  // a throwing sink must not see these bytes again
    out_.reserve(kFlushBytes + 4096);
    sink_.write(chunk.data(), chunk.size());
    written_ += chunk.size();
  }
  std::uint64_t written() const { return written_ + out_.size(); }

 private:
  void maybe_flush() {
    if (out_.size() >= kFlushBytes) flush();
  }
  ByteSink& sink_;
  std::string out_;
  std::uint64_t written_ = 0;
};

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

}  // namespace

std::uint64_t write_html(const Timeline& tl, ByteSink& sink) {
  const std::string_view page(reinterpret_cast<const char*>(kViewerHtml), kViewerHtmlSize);
  const std::size_t at = page.find(kPlaceholder);
  if (at == std::string_view::npos) throw Error("internal error: the HTML viewer has no data slot");

  Strings strings(tl.names);
  ScriptJson out(sink);
  out.raw(page.substr(0, at));
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
    for (const auto& [ts, value] : c.points)
      t.instants.push_back({ts, strings.add(c.name + " = " + real_text(value)), {}});
    tracks.push_back({-1, &t});
  }
  std::vector<std::size_t> main_track(tl.processes.size(), 0);
  for (std::size_t i = 0; i < tl.processes.size(); ++i) {
    main_track[i] = tracks.size();
    for (const TimelineThread& t : tl.processes[i].threads)
      tracks.push_back({static_cast<std::int64_t>(i), &t});
  }

  out.raw("{\"version\":1,\"title\":");
  out.string(tl.title);
  out.raw(",\"status\":");
  out.string(tl.status);
  out.raw(",\"duration\":");
  out.number(tl.end > tl.origin ? tl.end - tl.origin : 0);
  std::uint64_t threads = 0;
  for (const TimelineProcess& p : tl.processes) threads += p.threads.size();
  out.raw(",\"threads\":");
  out.number(threads);

  // Summary lines from the metadata.
  out.raw(",\"meta\":[");
  bool first = true;
  for (const Arg& a : tl.metadata) {
    out.raw(first ? "[" : ",[");
    first = false;
    out.string(a.key);
    out.raw(",");
    out.string(value_text(a));
    out.raw("]");
  }
  out.raw("],\"lost\":");
  out.number(tl.lost);

  out.raw(",\"procs\":[");
  for (std::size_t i = 0; i < tl.processes.size(); ++i) {
    const TimelineProcess& p = tl.processes[i];
    out.raw(i ? ",[" : "[");
    out.number(p.pid);
    out.raw(",");
    out.number(p.ppid);
    out.raw(",");
    out.number(strings.add(p.name));
    out.raw(",");
    out.number(rel(p.start));
    out.raw(",");
    out.number(p.end > p.start ? p.end - p.start : 0);
    out.raw(",");
    out.number(strings.add(p.status));
    out.raw(p.is_target ? ",1," : ",0,");
    out.number(strings.add(joined(p.argv)));
    out.raw(",");
    out.number(main_track[i]);
    out.raw("]");
  }

  out.raw("],\"tracks\":[");
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    out.raw(i ? ",[" : "[");
    out.signed_number(tracks[i].process);
    out.raw(",");
    out.number(tracks[i].thread->tid);
    out.raw(",");
    out.number(strings.add(tracks[i].thread->name.empty() ? "viztrace" : tracks[i].thread->name));
    out.raw(",");
    out.number(tracks[i].thread->slices.size());
    out.raw(",");
    out.number(tracks[i].thread->instants.size());
    out.raw("]");
  }

  // Per slice: start (delta from the previous slice of the track), duration, name, kind, details.
  out.raw("],\"slices\":[");
  first = true;
  for (const TrackRef& t : tracks) {
    std::uint64_t prev = 0;
    for (const TimelineSlice& s : t.thread->slices) {
      std::uint64_t start = rel(s.start);
      out.raw(first ? "" : ",");
      first = false;
      out.number(start - prev);
      out.raw(",");
      out.number(s.end > s.start ? s.end - s.start : 0);
      out.raw(",");
      out.number(s.name);
      out.raw(",");
      out.number(static_cast<std::uint64_t>(s.kind));
      out.raw(",");
      out.number(s.args.empty() ? 0 : strings.add(args_text(s.args)));
      prev = start;
    }
  }
  out.raw("],\"instants\":[");
  first = true;
  for (const TrackRef& t : tracks) {
    std::uint64_t prev = 0;
    for (const TimelineInstant& in : t.thread->instants) {
      std::uint64_t ts = rel(in.ts);
      out.raw(first ? "" : ",");
      first = false;
      out.number(ts - prev);
      out.raw(",");
      out.number(in.name);
      out.raw(",");
      out.number(in.args.empty() ? 0 : strings.add(args_text(in.args)));
      prev = ts;
    }
  }
  // The string table last: every index above is in it by now.
  out.raw("],\"strings\":[");
  first = true;
  for (const std::string& s : strings.table()) {
    out.raw(first ? "" : ",");
    first = false;
    out.string(s);
  }
  out.raw("]}");
  out.raw(page.substr(at + kPlaceholder.size()));
  out.flush();
  return out.written();
}

namespace {

class HtmlTraceWriter final : public TraceWriter {
 public:
  explicit HtmlTraceWriter(ByteSink& sink) : sink_(sink) {}

  void begin(const Timeline& trace, const FunctionPass* names) override {
    tl_ = trace;
    names_ = names;
    for (std::size_t i = 0; i < tl_.processes.size(); ++i)
      by_json_pid_.emplace(tl_.processes[i].json_pid(), i);
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
