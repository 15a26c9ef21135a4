#include "report/writers/summary.h"

#include <algorithm>

#include "report/writers/json_writer.h"
#include "report/model/shell_words.h"
#include "report/model/utf8.h"

namespace viztrace::report {
namespace {

constexpr std::size_t kSlowest = 5;
constexpr std::size_t kColumns = 100;

// ns as "1.203 s"
std::string seconds(std::uint64_t ns) {
  char buf[32];
  char* end = write_fixed3(buf, ns / 1000000);
  return std::string(buf, end) + " s";
}

std::string size_text(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB"};
  if (bytes < 1000) return std::to_string(bytes) + " bytes";
  std::uint64_t tenths = bytes / 100;  // of a kB
  int unit = 0;
  while (tenths >= 10000 && unit < 3) {
    tenths /= 1000;
    ++unit;
  }
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + kUnits[unit];
}

std::string count(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string status_text(const ExitStatus& s) {
  switch (s.kind) {
    case ExitStatus::Kind::exited:
      return "exited with status " + std::to_string(s.code);
    case ExitStatus::Kind::signaled:
      return "was killed by " + signal_name(s.signal) + (s.core_dumped ? " (core dumped)" : "");
    default:
      return "ended with an unknown status";
  }
}

std::string loss_text(const LossCounts& l) {
  std::vector<std::string> parts;
  // Records dropped for want of space are said below, with the reason.
  if (const std::uint64_t dropped = l.dropped_records - std::min(l.dropped_records, l.no_space_records))
    parts.push_back(count(dropped, "record", "records") + " dropped by traced processes");
  if (l.seq_gaps) parts.push_back(count(l.seq_gaps, "chunk", "chunks") + " missing");
  if (l.bad_chunks || l.bad_bytes)
    parts.push_back(count(l.bad_chunks, "bad chunk", "bad chunks") + " (" +
                    count(l.bad_bytes, "byte", "bytes") + ") skipped");
  if (l.spill_lost)
    parts.push_back(count(l.spill_lost, "chunk", "chunks") + " not spilled to disk");
  if (l.damaged_bytes)
    parts.push_back(count(l.damaged_bytes, "byte", "bytes") + " of the spill damaged");
  if (l.no_space_records || l.no_space_threads) {
    std::string what = l.no_space_records
                           ? count(l.no_space_records, "function record", "function records") +
                                 (l.no_space_threads ? " and " : "")
                           : "";
    if (l.no_space_threads)
      what += "the calls of " + count(l.no_space_threads, "thread", "threads");
    parts.push_back(what + " not recorded: the temp filesystem was full");
  }
  if (l.samples_lost)
    parts.push_back(count(l.samples_lost, "sampled stack", "sampled stacks") + " not recorded");
  if (l.argv_cut)
    parts.push_back(count(l.argv_arguments_left_out, "argument", "arguments") + " of " +
                    count(l.argv_cut, "argv", "argvs") + " too long to keep");
  if (parts.empty()) return "nothing lost";
  std::string out = "lost: ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

// "41.2%": part of n, to a tenth of a percent.
std::string percent(std::uint64_t part, std::uint64_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", n ? 100.0 * static_cast<double>(part) / static_cast<double>(n) : 0.0);
  return buf;
}

// "  41.2%  spin  (total 98.0%)  hot  hot.c:2", shares of n samples.
std::string sampled_function_line(const SampleSummary::Top& t, std::uint64_t n,
                                  const std::string& indent) {
  std::string self = percent(t.self, n);
  std::string tail = "  (total " + percent(t.total, n) + ")" +
                     (t.module.empty() ? "" : "  " + t.module) +
                     (t.source.empty() ? "" : "  " + t.source);
  std::string line = indent + std::string(self.size() < 7 ? 7 - self.size() : 0, ' ') + self + "  ";
  std::size_t room = kColumns > line.size() + tail.size() ? kColumns - line.size() - tail.size() : 10;
  return line + printable_text(t.name, room) + tail + "\n";
}

std::string sample_lines(const SampleSummary& s) {
  if (!s.requested) return "";
  if (s.method.empty()) return "  sampled stacks: none, sampling could not start: " + s.why_not + "\n";
  std::string out = "  " + count(s.samples, "sampled stack", "sampled stacks") + " (" + s.method +
                    ", " + std::to_string(s.hz) + " Hz of " +
                    (s.user_time_only ? "user " : "") + "CPU time" +
                    (s.why_not.empty() ? "" : "; the kernel would not sample: " + s.why_not) + ")";
  if (s.cut_short) {
    out += ", " + std::to_string(s.cut_short) + " cut short";
    if (s.copy_too_small)
      out += " (" + std::to_string(s.copy_too_small) + " past the " +
             std::to_string(s.stack_bytes / 1024) + " KiB stack copy)";
  }
  if (s.top.empty()) return out + "\n";
  out += "; top functions by self samples:\n";
  for (const SampleSummary::Top& t : s.top) out += sampled_function_line(t, s.samples, "  ");
  for (const SampleSummary::ProcessTop& p : s.processes) {
    out += "    in " + printable_text(p.name, 40) + " (pid " + std::to_string(p.pid) + ", " +
           count(p.samples, "sample", "samples") + "):\n";
    for (const SampleSummary::Top& t : p.top) out += sampled_function_line(t, p.samples, "    ");
  }
  return out;
}

}  // namespace

std::string printable_command(const std::vector<std::string>& argv, std::size_t columns) {
  return shell_command(argv, columns);
}

std::string printable_text(std::string_view text, std::size_t columns) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  std::vector<std::size_t> ends;  // ends[i]: the bytes of out that show the first i+1 columns
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n && ends.size() <= columns;) {
    std::size_t len = printable_length(p + i, n - i);
    if (len > 0) {
      out.append(text.data() + i, len);
      ends.push_back(out.size());
      i += len;
    } else {
      for (char c : {'\\', 'x', kHex[p[i] >> 4], kHex[p[i] & 15]}) {
        out += c;
        ends.push_back(out.size());
      }
      ++i;
    }
  }
  if (ends.size() <= columns) return out;
  std::size_t keep = columns > 3 ? columns - 3 : 0;
  out.resize(keep > 0 ? ends[keep - 1] : 0);
  return out + "...";
}

std::string duration_text(std::uint64_t ns) {
  char buf[32];
  if (ns < 1000) return std::to_string(ns) + " ns";
  if (ns < 1000000) return std::string(buf, write_fixed3(buf, ns)) + " us";
  if (ns < 1000000000) return std::string(buf, write_fixed3(buf, ns / 1000)) + " ms";
  return std::string(buf, write_fixed3(buf, ns / 1000000)) + " s";
}

std::string format_summary(const TraceModel& model, const std::string& report_path,
                           std::uint64_t report_bytes, const FunctionSummary& functions,
                           const SampleSummary& samples) {
  const Process* target = model.target ? &model.processes[*model.target] : nullptr;
  std::vector<std::string> command = model.session.command;
  if (command.empty() && target) command = target->images.front().argv;
  std::string out = "viztrace: `" + printable_command(command, 60) + "` " +
                    status_text(target ? target->status : ExitStatus{}) + " after " +
                    seconds(model.end - model.origin) + "\n";
  out += "  " + count(model.processes.size(), "process", "processes") + ", " +
         count(model.thread_count(), "thread", "threads") + ", " +
         count(model.events, "event", "events") + ", " + loss_text(model.lost) + "\n";
  if (const TraceModel::NotEntered n = model.not_entered(); n.total > 0) {
    std::vector<std::string> why;
    if (n.static_binary) why.push_back(std::to_string(n.static_binary) + " static");
    if (n.setuid) why.push_back(std::to_string(n.setuid) + " set-user-ID");
    if (n.other) why.push_back(std::to_string(n.other) + " other user or root");
    std::string reasons;
    for (const std::string& w : why) reasons += (reasons.empty() ? "" : ", ") + w;
    // Seen through /proc and the kernel's process events: argv, times and status only.
    out += "  " + count(n.total, "process image", "process images") + " followed from outside (" +
           reasons + ")\n";
  }

  std::vector<const Process*> slowest;  // the target contains everything: it is the first line
  for (const Process& p : model.processes)
    if (!p.is_target) slowest.push_back(&p);
  auto longer = [](const Process* a, const Process* b) {
    return a->end - a->start > b->end - b->start;
  };
  std::size_t shown = std::min(kSlowest, slowest.size());
  std::partial_sort(slowest.begin(), slowest.begin() + static_cast<std::ptrdiff_t>(shown),
                    slowest.end(), longer);
  if (shown > 0) out += "  slowest processes:\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const Process& p = *slowest[i];
    std::string dur = seconds(p.end - p.start);
    std::string pid = "  (pid " + std::to_string(p.pid);
    if (p.end_unknown) pid += model.session.end ? ", still running at the end" : ", end not seen";
    if (p.images.back().argv_cut)
      pid +=
          ", " + count(p.images.back().argv_cut->arguments, "argument", "arguments") + " not kept";
    pid += ")";
    std::string line = "  " + std::string(dur.size() < 10 ? 10 - dur.size() : 0, ' ') + dur + "  ";
    const std::vector<std::string>& argv = p.images.back().argv;
    std::size_t room =
        kColumns > line.size() + pid.size() ? kColumns - line.size() - pid.size() : 10;
    line += printable_command(argv.empty() ? std::vector<std::string>{p.name()} : argv, room);
    out += line + pid + "\n";
  }
  if (functions.calls > 0) {
    out += "  " + count(functions.calls, "function call", "function calls") +
           (functions.top.empty() ? "\n" : "; top functions by self time:\n");
    for (const FunctionSummary::Top& t : functions.top) {
      std::string self = duration_text(t.self_ns);
      std::string calls = "  (" + count(t.count, "call", "calls") + ", total " +
                          duration_text(t.total_ns) + ")" +
                          (t.source.empty() ? "" : "  " + t.source);
      std::string line =
          "  " + std::string(self.size() < 10 ? 10 - self.size() : 0, ' ') + self + "  ";
      std::size_t room =
          kColumns > line.size() + calls.size() ? kColumns - line.size() - calls.size() : 10;
      out += line + printable_text(t.name, room) + calls + "\n";
    }
  }
  out += sample_lines(samples);
  const AnnotationCounts& a = model.annotations;
  if (a.spans + a.marks + a.counter_samples + a.unmatched_span_ends > 0) {
    out += "  annotations: " + count(a.spans, "span", "spans") + ", " +
           count(a.marks, "mark", "marks") + ", " +
           count(a.counter_samples, "counter sample", "counter samples");
    std::vector<std::string> notes;
    if (a.unfinished_spans)
      notes.push_back(std::to_string(a.unfinished_spans) + " never ended (closed at their end)");
    if (a.unmatched_span_ends)
      notes.push_back(count(a.unmatched_span_ends, "span end", "span ends") +
                      " without a begin, ignored");
    for (std::size_t i = 0; i < notes.size(); ++i) out += (i ? ", " : " (") + notes[i];
    out += notes.empty() ? "\n" : ")\n";
  }
  {
    std::vector<std::string> left_out;
    if (functions.unreadable_chunks)
      left_out.push_back(count(functions.unreadable_chunks, "chunk that did not unpack",
                               "chunks that did not unpack"));
    if (functions.unmatched_returns)
      left_out.push_back(count(functions.unmatched_returns, "return without its call",
                               "returns without their calls"));
    if (functions.unmapped)
      left_out.push_back(count(functions.unmapped, "record whose time could not be placed",
                               "records whose time could not be placed"));
    for (std::size_t i = 0; i < left_out.size(); ++i)
      out += (i ? ", " : "  function records left out: ") + left_out[i];
    if (!left_out.empty()) out += "\n";
  }
  if (functions.waited_ns >= 1000000)
    out += "  traced threads waited " + duration_text(functions.waited_ns) +
           " for viztrace to empty their buffers (it could not keep up: a slow disk or a busy CPU)\n";
  auto ends_with = [&](std::string_view ext) {
    return report_path.size() >= ext.size() &&
           report_path.compare(report_path.size() - ext.size(), ext.size(), ext) == 0;
  };
  const char* how = ends_with(".html")      ? "open it in any browser"
                    : ends_with(".pftrace") ? "open it in https://ui.perfetto.dev"
                    : ends_with(".speedscope.json")
                        ? "drop it on https://www.speedscope.app (nothing is uploaded) or run "
                          "npx speedscope on it"
                        : "open it in https://ui.perfetto.dev or chrome://tracing";
  out += "  report: " + printable_text(report_path, kColumns) + " (" + size_text(report_bytes) +
         "): " + how + "\n";
  return out;
}

}  // namespace viztrace::report
