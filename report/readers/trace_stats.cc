#include "report/readers/trace_stats.h"

#include <algorithm>

#include "report/model/sample_profile.h"

namespace viztrace::report {

SliceStack::NameId TraceStats::name_id(std::string_view name) {
  auto it = name_ids_.find(name);
  if (it != name_ids_.end()) return it->second;
  auto id = static_cast<SliceStack::NameId>(names_.size());
  names_.push_back(NameStats{std::string(name)});
  name_ids_.emplace(std::string(name), id);
  return id;
}

// The name an E event must match: any when it has none, else one already begun (or none).
SliceStack::NameId TraceStats::end_name(std::string_view name) const {
  if (name.empty()) return SliceStack::kAnyName;
  auto it = name_ids_.find(name);
  return it != name_ids_.end() ? it->second : kNeverBegun;
}

void TraceStats::slice(SliceStack::NameId name, std::int64_t dur, std::int64_t self) {
  NameStats& n = names_[name];
  ++n.count;
  n.total += dur;
  n.self += self;
  n.max = std::max(n.max, dur);
}

TraceStats::Process& TraceStats::process(std::int64_t pid) {
  auto [it, added] = processes_.try_emplace(pid);
  if (added) it->second.stats.pid = pid;
  return it->second;
}

TraceStats::Thread& TraceStats::thread(Process& p, std::int64_t pid, std::int64_t tid) {
  ThreadKey key{pid, tid};
  if (last_thread_ && last_key_ == key) return *last_thread_;
  auto [it, added] = threads_.try_emplace(key);
  if (added) ++p.stats.threads;
  last_key_ = key;
  last_thread_ = &it->second;
  return it->second;
}

void TraceStats::event(const TraceEvent& e) {
  ++phases_[static_cast<unsigned char>(e.ph)];
  const std::int64_t pid = e.has_pid ? e.pid : 0;
  Process& proc = process(pid);
  if (e.ph == 'M') {
    if (e.name == "process_name" && !e.arg_name.empty()) {
      proc.stats.name = e.arg_name;
      proc.named_by_metadata = true;
    }
    return;
  }
  const bool slice = e.ph == 'X' || e.ph == 'B' || e.ph == 'E';
  if (!e.has_ts) {
    if (slice) ++invalid_;
    return;
  }
  // Times beyond ±146 years cannot be added safely (and are nobody's trace).
  constexpr std::int64_t kTimeLimit = std::int64_t{1} << 62;
  if (e.ts <= -kTimeLimit || e.ts >= kTimeLimit) {
    if (slice) ++invalid_;
    return;
  }
  if (e.ph == 'X' && (!e.has_dur || e.dur < 0 || e.dur >= kTimeLimit)) {  // Perfetto drops these
    ++invalid_;
    return;
  }
  const std::int64_t ts = e.ts;
  const std::int64_t end = e.ph == 'X' ? ts + e.dur : ts;
  has_time_ = true;
  start_ = std::min(start_, ts);
  end_ = std::max(end_, end);
  ++proc.stats.events;
  proc.first = std::min(proc.first, ts);
  proc.last = std::max(proc.last, end);
  // Perfetto's rule for a missing tid: the process's main thread.
  Thread& t = thread(proc, pid, e.has_tid ? e.tid : pid);
  t.last = std::max(t.last, end);
  switch (e.ph) {
    case 'X':
      t.slices.complete(*this, name_id(e.name), ts, e.dur);
      if (e.cat == "process") {
        proc.span_first = std::min(proc.span_first, ts);
        proc.span_last = std::max(proc.span_last, end);
        if (!proc.named_by_metadata && proc.stats.name.empty()) proc.stats.name = e.name;
        if (e.has_cpu) {
          proc.stats.has_cpu = true;
          proc.stats.utime += e.utime;
          proc.stats.stime += e.stime;
        }
      }
      break;
    case 'B':
      t.slices.begin(*this, name_id(e.name), ts);
      break;
    case 'E':
      t.slices.end(*this, ts, end_name(e.name));
      break;
    default:
      break;
  }
}

TraceStatsResult TraceStats::finish(const std::string& path, const TraceReader::Summary& input) {
  TraceStatsResult r;
  r.path = path;
  r.input = input;
  for (auto& [key, t] : threads_) {
    t.slices.finish(*this, t.last);
    const SliceStack::Counts& c = t.slices.counts();
    r.nesting.unmatched_ends += c.unmatched_ends;
    r.nesting.unclosed_begins += c.unclosed_begins;
    r.nesting.improper += c.improper;
    r.nesting.approximate += c.approximate;
  }
  for (int ph = 0; ph < 256; ++ph)
    if (phases_[ph]) r.phases.emplace_back(static_cast<char>(ph), phases_[ph]);
  r.has_time = has_time_;
  if (has_time_) {
    r.start = start_;
    r.end = end_;
  }
  r.names = std::move(names_);
  for (auto& [pid, p] : processes_) {
    if (p.stats.events == 0 && p.stats.name.empty()) continue;  // only metadata without a name
    if (p.span_first <= p.span_last)
      p.stats.wall = p.span_last - p.span_first;
    else if (p.first <= p.last)
      p.stats.wall = p.last - p.first;
    r.processes.push_back(std::move(p.stats));
  }
  std::sort(r.processes.begin(), r.processes.end(),
            [](const ProcessStats& a, const ProcessStats& b) { return a.pid < b.pid; });
  r.threads = threads_.size();
  r.invalid = invalid_;
  r.sampled = sample_stats(r.processes);
  return r;
}

// Each sample on its process: by pid, or without one, the process with a thread of its tid, else
// the pid of its tid (as events without pid go to the pid's main thread). Then the functions of
// every process and of the busiest ones, counted by sampled_functions.
SampleStats TraceStats::sample_stats(const std::vector<ProcessStats>& processes) {
  SampleStats out;
  std::unordered_map<std::int64_t, std::size_t> by_pid;  // into sampled_.processes
  std::vector<std::int64_t> pids;                        // of sampled_.processes
  std::unordered_map<std::int64_t, std::int64_t> pid_of_tid;
  for (const auto& [key, t] : threads_) pid_of_tid.emplace(key.tid, key.pid);
  samples_.resolve([&](const SampleThread& where, std::vector<TimelineSample>&& in) {
    std::int64_t pid = where.pid;
    if (!where.has_pid) {
      auto it = pid_of_tid.find(where.tid);
      pid = it != pid_of_tid.end() ? it->second : where.tid;
    }
    auto [it, fresh] = by_pid.try_emplace(pid, sampled_.processes.size());
    if (fresh) {
      sampled_.processes.emplace_back();
      pids.push_back(pid);
    }
    sampled_.processes[it->second].threads.emplace_back().samples = std::move(in);
  });
  out.counts = samples_.counts();
  if (out.counts.samples == 0) return out;

  auto functions = [&](const TimelineProcess* p, std::uint64_t& samples, std::uint64_t& weight) {
    std::vector<SampledFunctionStats> rows;
    for (const SampledFunction& f : sampled_functions(sampled_, p, &samples, &weight)) {
      const TimelineFrame& frame = sampled_.frames[f.frame];
      rows.push_back({sampled_.names[frame.name], sampled_.names[frame.module], f.self, f.total,
                      f.self_weight, f.total_weight});
    }
    return rows;
  };
  out.functions = functions(nullptr, out.samples, out.weight);
  out.processes_total = sampled_.processes.size();
  std::vector<std::size_t> order(sampled_.processes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto count = [&](std::size_t i) {
    std::size_t n = 0;
    for (const TimelineThread& t : sampled_.processes[i].threads) n += t.samples.size();
    return n;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return count(a) > count(b); });
  if (order.size() > SampleStats::kProcesses) order.resize(SampleStats::kProcesses);
  for (std::size_t i : order) {
    SampledProcessStats& p = out.processes.emplace_back();
    p.pid = pids[i];
    for (const ProcessStats& named : processes)
      if (named.pid == p.pid) p.name = named.name;
    p.functions = functions(&sampled_.processes[i], p.samples, p.weight);
  }
  return out;
}

TraceStatsResult TraceStats::of_file(const std::string& path) {
  TraceStats stats;
  TraceReader::Options options;
  options.samples = true;
  TraceReader::Summary input = TraceReader::read(path, stats, options);
  return stats.finish(path, input);
}

}  // namespace viztrace::report
