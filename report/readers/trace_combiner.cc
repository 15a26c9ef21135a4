#include "report/readers/trace_combiner.h"

#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <map>
#include <optional>
#include <set>

#include "common/error.h"
#include "report/writers/gzip_sink.h"
#include "report/writers/json_writer.h"
#include "report/writers/output_file.h"
#include "report/readers/trace_reader.h"
#include "simdjson.h"

namespace viztrace::report {
namespace {

// Larger texts bypass JsonWriter's buffer, which takes at most its own size at once.
constexpr std::size_t kDirectWriteBytes = 64u << 10;

struct Member {
  std::string key;  // raw (escaped) name
  std::string raw;  // its JSON text; empty when larger than the capture limit
  std::uint64_t size = 0;
};

// One input as the first pass found it, and what the second pass does to it.
struct Input {
  std::string path;
  TraceReader::Summary summary;
  std::set<std::int64_t> pids;
  bool has_time = false;
  std::int64_t first = INT64_MAX;
  std::vector<Member> members;
  std::map<std::int64_t, std::int64_t> remap;  // original pid -> pid in the output
  std::int64_t shift = 0;                      // ns subtracted from every timestamp
  // The labels of its own process_labels events (an earlier combine wrote them), by pid.
  std::map<std::int64_t, std::vector<std::string>> labels;
};

constexpr std::string_view kLabelsEvent = "process_labels";

// An event without pid belongs to pid 0, as viewers and `viztrace stats` read it: so its input's
// pid 0, remapped with the input's other pids.
std::int64_t pid_of(const TraceEvent& e) {
  return e.has_pid ? e.pid : 0;
}

// Whether an event's text has a member, so that one inserted after its '{' takes a comma.
bool has_members(std::string_view text) {
  std::size_t i = text.find_first_not_of(" \t\r\n", 1);
  return i != std::string_view::npos && text[i] != '}';
}

bool is_labels_event(const TraceEvent& e) {
  return e.ph == 'M' && e.name == kLabelsEvent;
}

// First pass: pids, first timestamp, top-level metadata.
class InputSurvey final : public TraceReader::Visitor {
 public:
  explicit InputSurvey(Input& input) : input_(input) {}
  void event(const TraceEvent& e) override {
    input_.pids.insert(pid_of(e));
    if (e.ph != 'M' && e.has_ts) {
      input_.has_time = true;
      input_.first = std::min(input_.first, e.ts);
    }
    if (is_labels_event(e)) keep_labels(e);
  }
  void member(std::string_view key, std::string_view raw, std::uint64_t size) override {
    input_.members.push_back({std::string(key), std::string(raw), size});
  }

 private:
  void keep_labels(const TraceEvent& e) {
    simdjson::dom::element doc;
    std::string_view text;
    if (parser_.parse(simdjson::padded_string(e.text)).get(doc) != simdjson::SUCCESS ||
        doc["args"]["labels"].get(text) != simdjson::SUCCESS || text.empty())
      return;
    std::vector<std::string>& kept = input_.labels[pid_of(e)];
    if (std::find(kept.begin(), kept.end(), text) == kept.end()) kept.emplace_back(text);
  }

  Input& input_;
  simdjson::dom::parser parser_;
};

// Second pass: each event's own text, with pid, tid and ts rewritten where needed.
class EventCopier final : public TraceReader::Visitor {
 public:
  EventCopier(const Input& input, bool align, JsonWriter& json, ByteSink& sink)
      : input_(input), align_(align), json_(json), sink_(sink) {}

  void event(const TraceEvent& e) override {
    if (is_labels_event(e)) return;  // folded into the one label we write
    const std::string_view text = e.text;
    struct Edit {
      std::size_t pos, len;
      char buf[48];
      std::size_t n;
    };
    Edit edits[3];
    int count = 0;
    auto replace = [&](std::string_view token, std::size_t insert_at, auto&& render) {
      Edit& ed = edits[count++];
      ed.pos = token.empty() ? insert_at : static_cast<std::size_t>(token.data() - text.data());
      ed.len = token.size();
      ed.n = static_cast<std::size_t>(render(ed.buf) - ed.buf);
    };
    // An inserted member, after the '{'; an inserted pid is followed by a tid, given or inserted.
    auto insert = [&](std::string_view key, std::int64_t value, bool comma) {
      replace({}, 1, [&](char* out) {
        out = std::copy(key.begin(), key.end(), out);
        out = write_integer(out, value);
        if (comma) *out++ = ',';
        return out;
      });
    };
    std::int64_t pid = pid_of(e);
    bool remapped = false;
    if (auto it = input_.remap.find(pid); it != input_.remap.end()) {
      pid = it->second;
      remapped = true;
      if (!e.pid_token.empty())  // a number, or what stands for none (null, a word)
        replace(e.pid_token, 0, [&](char* out) { return write_integer(out, pid); });
      else
        insert("\"pid\":", pid, true);
    }
    const bool has_pid = e.has_pid || remapped;
    if (e.has_tid && remapped && e.tid == pid_of(e)) {
      replace(e.tid_token, 0, [&](char* out) { return write_integer(out, pid); });
    } else if (has_pid && e.tid_token.empty()) {  // viewers such as speedscope need a tid
      insert("\"tid\":", pid, has_members(text));
    }
    if (align_ && e.ph != 'M' && e.has_ts && input_.shift != 0 && e.ts >= input_.shift) {
      replace(e.ts_token, 0, [&](char* out) {
        return write_fixed3(out, static_cast<std::uint64_t>(e.ts - input_.shift));
      });
    }
    for (int i = 1; i < count; ++i)  // at most three: in text order
      for (int j = i; j > 0 && edits[j].pos < edits[j - 1].pos; --j)
        std::swap(edits[j], edits[j - 1]);

    scratch_.assign("\n");  // one event per line, as our reports have it
    std::size_t from = 0;
    for (int i = 0; i < count; ++i) {
      scratch_.append(text.substr(from, edits[i].pos - from));
      scratch_.append(edits[i].buf, edits[i].n);
      from = edits[i].pos + edits[i].len;
    }
    scratch_.append(text.substr(from));
    // The whole event as one value of the array (raw_members places the comma).
    if (scratch_.size() <= kDirectWriteBytes) {
      json_.raw_members(scratch_);
    } else {
      json_.raw_members("");
      json_.flush();
      sink_.write(scratch_.data(), scratch_.size());
    }
    ++events_;
  }

  std::uint64_t events() const { return events_; }

 private:
  static char* write_integer(char* out, std::int64_t v) {
    if (v < 0) *out++ = '-';
    return write_decimal(out,
                         v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v));
  }

  const Input& input_;
  bool align_;
  JsonWriter& json_;
  ByteSink& sink_;
  std::string scratch_;
  std::uint64_t events_ = 0;
};

// Gives every pid that an earlier input already uses a new one: pid + k*kPidStep for the
// smallest k that is free in every input, so the original stays readable in the new number.
std::uint64_t assign_pids(std::vector<Input>& inputs) {
  std::set<std::int64_t> taken;
  for (const Input& in : inputs) taken.insert(in.pids.begin(), in.pids.end());
  std::set<std::int64_t> placed;
  std::uint64_t remapped = 0;
  for (Input& in : inputs) {
    for (std::int64_t pid : in.pids) {
      if (!placed.count(pid)) {
        placed.insert(pid);
        continue;
      }
      std::int64_t fresh = pid;
      do {
        if (fresh > INT64_MAX / 2 - TraceCombiner::kPidStep)
          fresh = *taken.rbegin() + 1;
        else
          fresh += TraceCombiner::kPidStep;
      } while (taken.count(fresh));
      taken.insert(fresh);
      placed.insert(fresh);
      in.remap[pid] = fresh;
      ++remapped;
    }
  }
  return remapped;
}

std::string_view form_name(TraceScanner::Form form) {
  return form == TraceScanner::Form::array ? "array" : "object";
}

// An input's own top-level members as one JSON object, when they are valid JSON together.
std::optional<std::string> members_object(const Input& in) {
  std::string text = "{";
  for (const Member& m : in.members) {
    if (text.size() > 1) text += ',';
    text += '"' + m.key + "\":";
    if (m.raw.empty() && m.size > 0)
      text += "{\"omitted_bytes\":" + std::to_string(m.size) + "}";
    else
      text += m.raw;
  }
  text += '}';
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(text)).get(doc) != simdjson::SUCCESS)
    return std::nullopt;
  return text;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void TraceCombiner::check_output_name(const std::string& path) {
  if ((ends_with(path, ".json") && !ends_with(path, ".speedscope.json")) ||
      ends_with(path, ".json.gz"))
    return;
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return;
  throw Error("combine writes JSON: use .json or .json.gz for " + path);
}

CombineResult TraceCombiner::run() {
  if (options_.inputs.empty()) throw Error("combine: no input traces");
  check_output_name(options_.output);
  for (const std::string& in : options_.inputs)
    if (in == "-") throw Error("combine reads each input twice: standard input cannot be one");
  std::vector<Input> inputs(options_.inputs.size());
  TraceReader::Options read_options;
  read_options.capture_limit = kMemberCaptureLimit;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Input& in = inputs[i];
    in.path = options_.inputs[i];
    InputSurvey survey(in);
    in.summary = TraceReader::read(in.path, survey, read_options);
    if (options_.align && in.has_time) in.shift = in.first;
  }
  CombineResult result;
  result.remapped_pids = assign_pids(inputs);

  OutputFile file(options_.output);
  std::optional<GzipSink> gz;
  if (ends_with(options_.output, ".gz")) gz.emplace(file, options_.output);
  ByteSink& sink = gz ? static_cast<ByteSink&>(*gz) : file;
  JsonWriter json(sink);
  json.begin_object();
  json.key("traceEvents");
  json.begin_array();
  for (const Input& in : inputs) {
    EventCopier copier(in, options_.align, json, sink);
    TraceReader::Summary again = TraceReader::read(in.path, copier);
    if (again.events != in.summary.events)
      throw Error(in.path + ": changed while being combined (" + std::to_string(in.summary.events) +
                  " events, then " + std::to_string(again.events) + ")");
    result.events += copier.events();
    // Which file each process came from, shown beside its name in chrome://tracing: one label
    // per process. One an earlier combine wrote is kept, preceded by this file and pid when the
    // pid moves again, so that combining a combined trace never piles labels up.
    for (std::int64_t pid : in.pids) {
      auto it = in.remap.find(pid);
      const std::int64_t out_pid = it == in.remap.end() ? pid : it->second;
      std::string moved = in.path + " (pid " + std::to_string(pid) + ")";
      std::string label;
      if (auto old = in.labels.find(pid); old != in.labels.end()) {
        if (it != in.remap.end()) label = moved;
        for (const std::string& text : old->second) label += (label.empty() ? "" : ", ") + text;
      } else {
        label = it != in.remap.end() ? moved : in.path;
      }
      json.begin_object(true);
      json.member("ph", "M");
      json.member("name", kLabelsEvent);
      json.member("pid", out_pid);
      json.member("tid", out_pid);
      json.key("args");
      json.begin_object();
      json.member("labels", label);
      json.end_object();
      json.end_object();
      ++result.events;
    }
  }
  json.end_array();
  json.member("displayTimeUnit", "ns");
  json.key("metadata");
  json.begin_object();
  json.member("viztrace_version", VIZTRACE_VERSION);
  json.member("combined_by", "viztrace combine");
  json.member("aligned", options_.align);
  json.key("inputs");
  json.begin_array();
  for (const Input& in : inputs) {
    json.begin_object(true);
    json.member("file", in.path);
    json.member("form", form_name(in.summary.form));
    json.member("events", in.summary.events);
    json.member("shift_ns", in.shift);
    json.key("remapped_pids");
    json.begin_array();
    for (const auto& [from, to] : in.remap) {
      json.begin_object();
      json.member("from", from);
      json.member("to", to);
      json.end_object();
    }
    json.end_array();
    if (auto members = members_object(in)) {
      json.key("members");
      if (members->size() <= kDirectWriteBytes) {
        json.raw_members(*members);
      } else {
        json.raw_members("");
        json.flush();
        sink.write(members->data(), members->size());
      }
    } else {
      json.member("members_invalid", true);
    }
    json.end_object();
  }
  json.end_array();
  json.end_object();
  json.end_object();
  json.newline();
  json.flush();
  if (gz) gz->finish();
  file.commit();
  return result;
}

}  // namespace viztrace::report
