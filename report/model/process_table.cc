#include "report/model/process_table.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "report/model/incarnation.h"

namespace viztrace::report {
namespace {

using Fact = LifecycleFact;
using Kind = Fact::Kind;
using StreamsByPid = std::unordered_map<std::uint32_t, std::vector<StreamSpan>>;
using PidIndex = std::unordered_map<std::uint32_t, std::vector<std::size_t>>;  // by real pid

constexpr std::uint32_t kPidReuseStride = 4194304;  // PID_MAX_LIMIT: json pids never collide

// What a process and its reaper counted of its CPU time and peak memory (Incarnation).
struct UsageFacts {
  std::optional<Usage> at_exit, reaped;
  bool reaped_at_all = false;
};

CpuTime cpu_of(const Usage& u) {
  return {u.utime_ns, u.stime_ns};
}

// Makes each process's own CPU time and peak memory out of what it said at exit and what its
// reaper counted. The reaper's count (wait4's rusage) includes every child the process waited
// for, and theirs, so without the process's own word its CPU time is that count less its
// waited children's counts; its peak memory is then known only when it waited for none.
// usage[i] belongs to processes[i].
void attribute_usage(std::vector<Process>& processes, const std::vector<UsageFacts>& usage,
                     const std::unordered_map<std::uint32_t, std::vector<Fact>>& all_facts) {
  PidIndex by_pid;
  for (std::size_t i = 0; i < processes.size(); ++i) by_pid[processes[i].pid].push_back(i);
  // The incarnation of pid that had begun at ts (the latest such), if any.
  auto at = [&](std::uint32_t pid, std::uint64_t ts) -> std::optional<std::size_t> {
    auto it = by_pid.find(pid);
    if (it == by_pid.end()) return std::nullopt;
    std::optional<std::size_t> found;
    for (std::size_t i : it->second)
      if (processes[i].start <= ts && (!found || processes[i].start >= processes[*found].start))
        found = i;
    return found;
  };

  // The children each process waited for: the REAP records it wrote, with the reaped child's
  // count when the wait gave one.
  struct Waited {
    std::optional<std::size_t> child;
    std::optional<Usage> usage;
  };
  std::vector<std::vector<Waited>> waited(processes.size());
  for (const auto& [pid, facts] : all_facts)
    for (const Fact& f : facts) {
      if (f.kind != Kind::reap || f.from_collector) continue;
      std::optional<std::size_t> reaper = at(f.writer, f.ts);
      if (!reaper || f.ts > processes[*reaper].end) continue;
      waited[*reaper].push_back({at(pid, f.ts), f.usage});
    }
  // A program the shim was not in (or a Go program: raw system calls) reaps unseen: its
  // children that ended before it and that no one else was seen reaping were its to wait for.
  PidIndex by_ppid;
  for (std::size_t i = 0; i < processes.size(); ++i) by_ppid[processes[i].ppid].push_back(i);
  for (std::size_t i = 0; i < processes.size(); ++i) {
    const Process& p = processes[i];
    bool reaps_unseen = false;
    for (const Image& im : p.images) reaps_unseen |= !im.traced || (im.exe_flags & VT_EXE_GO);
    auto children = by_ppid.find(p.pid);
    if (!reaps_unseen || children == by_ppid.end()) continue;
    for (std::size_t c : children->second) {
      const Process& child = processes[c];
      if (child.start < p.start || child.start > p.end || child.end_unknown || child.end > p.end ||
          usage[c].reaped_at_all)
        continue;
      waited[i].push_back({c, std::nullopt});
    }
  }

  // A process's count with its waited children's: the reaper's, else its own plus theirs.
  enum : std::uint8_t { kTodo, kBusy, kDone };
  std::vector<std::uint8_t> state(processes.size(), kTodo);
  std::vector<std::optional<CpuTime>> totals(processes.size());
  std::function<std::optional<CpuTime>(std::size_t)> total;
  // The sum of what the children process i waited for counted; nullopt when one is unknown.
  auto children_total = [&](std::size_t i) -> std::optional<CpuTime> {
    CpuTime sum;
    for (const Waited& w : waited[i]) {
      std::optional<CpuTime> t;
      if (w.usage)
        t = cpu_of(*w.usage);
      else if (w.child)
        t = total(*w.child);
      if (!t) return std::nullopt;
      sum.user_ns += t->user_ns;
      sum.system_ns += t->system_ns;
    }
    return sum;
  };
  total = [&](std::size_t i) -> std::optional<CpuTime> {
    if (state[i] == kDone) return totals[i];
    if (state[i] == kBusy) return std::nullopt;  // a cycle: only from a damaged trace
    state[i] = kBusy;
    if (usage[i].reaped) {
      totals[i] = cpu_of(*usage[i].reaped);
    } else if (usage[i].at_exit) {
      if (std::optional<CpuTime> children = children_total(i)) {
        const CpuTime own = cpu_of(*usage[i].at_exit);
        totals[i] = CpuTime{own.user_ns + children->user_ns, own.system_ns + children->system_ns};
      }
    }
    state[i] = kDone;
    return totals[i];
  };

  for (std::size_t i = 0; i < processes.size(); ++i) {
    Process& p = processes[i];
    const UsageFacts& u = usage[i];
    if (u.at_exit) {
      p.cpu = cpu_of(*u.at_exit);
      if (u.at_exit->maxrss_kb) p.max_rss_kb = u.at_exit->maxrss_kb;
    } else if (u.reaped) {
      if (std::optional<CpuTime> children = children_total(i)) {
        auto less = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
        p.cpu = CpuTime{less(u.reaped->utime_ns, children->user_ns),
                        less(u.reaped->stime_ns, children->system_ns)};
      }
      if (waited[i].empty() && u.reaped->maxrss_kb) p.max_rss_kb = u.reaped->maxrss_kb;
    }
    if (!waited[i].empty()) p.cpu_with_children = total(i);
  }
}

// Every pid's facts and streams, split where the pid was reused, resolved into processes.
void resolve_processes(const std::unordered_map<std::uint32_t, std::vector<Fact>>& all_facts,
                       const StreamsByPid& streams, const Session& session,
                       std::vector<Process>& processes, std::vector<Instant>& instants) {
  std::vector<UsageFacts> usage;  // of processes[i]
  std::vector<std::uint32_t> pids;
  for (const auto& [pid, facts] : all_facts) pids.push_back(pid);
  for (const auto& [pid, spans] : streams)
    if (!all_facts.count(pid)) pids.push_back(pid);

  for (std::uint32_t pid : pids) {
    std::vector<const Fact*> facts;
    if (auto it = all_facts.find(pid); it != all_facts.end())
      for (const Fact& f : it->second) facts.push_back(&f);
    std::stable_sort(facts.begin(), facts.end(), [](const Fact* a, const Fact* b) {
      return a->ts != b->ts ? a->ts < b->ts : a->order < b->order;
    });
    // After the pid was reaped or ended, a start, or anything the pid writes itself (a vfork
    // child's first word is its EXEC), is a new process that got the same pid.
    std::vector<std::vector<const Fact*>> groups;
    bool over = false;
    for (const Fact* f : facts) {
      if (groups.empty() || (over && (f->is_start() || f->is_own()))) {
        groups.emplace_back();
        over = false;
      }
      groups.back().push_back(f);
      over = over || f->is_end();
    }
    if (groups.empty()) groups.emplace_back();
    // A stream belongs to the incarnation that had begun when it wrote its first record.
    std::vector<std::vector<StreamSpan>> group_streams(groups.size());
    if (auto it = streams.find(pid); it != streams.end()) {
      for (const StreamSpan& s : it->second) {
        std::size_t g = 0;
        for (std::size_t i = 1; i < groups.size(); ++i)
          if (groups[i].front()->ts <= s.first_ts) g = i;
        group_streams[g].push_back(s);
      }
    }
    for (std::size_t g = 0; g < groups.size(); ++g) {
      auto inc = resolve_incarnation(pid, groups[g], group_streams[g], session);
      if (!inc) continue;
      processes.push_back(std::move(inc->process));
      usage.push_back({inc->exit_usage, inc->reaped_usage, inc->reaped});
      for (Instant& in : inc->instants) instants.push_back(std::move(in));
    }
  }
  attribute_usage(processes, usage, all_facts);
}

// processes are sorted by start: the k-th process with a pid gets pid + k * stride.
PidIndex assign_json_pids(std::vector<Process>& processes) {
  PidIndex by_pid;
  for (std::size_t i = 0; i < processes.size(); ++i) {
    Process& p = processes[i];
    std::vector<std::size_t>& same = by_pid[p.pid];
    p.json_pid = p.pid + static_cast<std::uint32_t>(same.size()) * kPidReuseStride;
    same.push_back(i);
  }
  return by_pid;
}

// The process with real pid `pid` that was alive at ts (else the nearest one), or null.
const Process* process_at(const std::vector<Process>& processes, const PidIndex& by_pid,
                          std::uint32_t pid, std::uint64_t ts) {
  auto it = by_pid.find(pid);
  if (it == by_pid.end()) return nullptr;
  const Process* found = &processes[it->second.front()];
  for (std::size_t i : it->second)
    if (processes[i].start <= ts) found = &processes[i];
  return found;
}

// A fork child runs its parent's program until it execs: it has that program's file (and so
// its name), and when its own announcement is missing, argv from the parent's image of that
// moment (parents start first, so theirs is already filled in).
void inherit_fork_argv(std::vector<Process>& processes, const PidIndex& by_pid) {
  for (Process& p : processes) {
    Image& first = p.images.front();
    if (std::strcmp(first.started_by, "fork") != 0) continue;
    const Process* parent = process_at(processes, by_pid, p.ppid, p.start);
    if (!parent || parent == &p) continue;
    const Image* running = &parent->images.front();
    for (const Image& im : parent->images)
      if (im.start <= p.start) running = &im;
    if (first.exe.empty() && first.path.empty()) {
      first.exe = running->exe;
      first.path = running->path;
      first.exe_as_execed = running->exe_as_execed;
    }
    if (!first.argv.empty()) continue;
    first.argv = running->argv;
    first.argv_cut = running->argv_cut;
    if (first.cwd.empty()) first.cwd = running->cwd;
  }
}

// The command viztrace launched: the one its SPAWN began, else the session's target pid.
std::optional<std::size_t> find_target(std::vector<Process>& processes, const PidIndex& by_pid,
                                       const Session& session) {
  for (std::size_t i = 0; i < processes.size(); ++i)
    if (processes[i].is_target) return i;
  if (!session.known) return std::nullopt;
  auto it = by_pid.find(session.target_pid);
  if (it == by_pid.end()) return std::nullopt;
  processes[it->second.front()].is_target = true;
  return it->second.front();
}

}  // namespace

void end_unfinished_after(const std::vector<FunctionRecordTime>& records, TraceModel& model) {
  PidIndex by_pid;
  for (std::size_t i = 0; i < model.processes.size(); ++i)
    by_pid[model.processes[i].pid].push_back(i);
  for (const FunctionRecordTime& r : records) {
    const Process* at = process_at(model.processes, by_pid, r.pid, r.ts);
    if (!at || !at->end_unknown || r.ts <= at->end) continue;
    Process& p = model.processes[static_cast<std::size_t>(at - model.processes.data())];
    for (Thread& t : p.threads)  // those that lived until the process's end
      if (t.end_unknown && t.end == p.end) t.end = r.ts;
    p.end = p.images.back().end = r.ts;
    model.end = std::max(model.end, r.ts);
  }
}

void ProcessTable::add(std::uint32_t subject, Fact&& fact) {
  if (subject == 0) return;
  fact.order = order_++;
  facts_[subject].push_back(std::move(fact));
}

void ProcessTable::record(const vt_chunk_header& chunk, const vt_record& rec,
                          const RecordStrings& strings) {
  const bool collector = (chunk.flags & VT_CHUNK_COLLECTOR) != 0;
  Fact f{};
  f.from_collector = collector;
  f.ts = rec.ts;
  f.writer = chunk.pid;
  f.tid = chunk.tid;
  f.aux = rec.aux;
  if (!collector && annotations_.record(chunk, rec, strings)) return;
  switch (rec.type) {
    case VT_REC_FORK: {
      vt_pid child;
      if (!record_payload(rec, child) || child.pid <= 0) return;
      f.kind = Kind::fork;
      f.parent = chunk.pid;
      return add(static_cast<std::uint32_t>(child.pid), std::move(f));
    }
    case VT_REC_SPAWN: {
      vt_spawn s;
      // pid 0 without an error: a spawn in another PID namespace whose child is unknown.
      if (!record_payload(rec, s) || (s.pid == 0 && s.error == 0)) return;
      std::vector<std::string> argv = split_argv(strings.get(VT_STR_ARGV));
      if (s.error != 0 || s.pid <= 0) {
        spawn_failures_.push_back({rec.ts, chunk.pid, chunk.tid, collector, s.error,
                                   std::string(strings.get(VT_STR_PATH)), std::move(argv)});
        return;
      }
      f.kind = Kind::spawn;
      f.parent = chunk.pid;
      f.path = strings.get(VT_STR_PATH);
      f.argv = std::move(argv);
      f.argv_cut = argv_cut_of(strings.get(VT_STR_ARGV_CUT), strings.has(VT_STR_ARGV_CUT));
      return add(static_cast<std::uint32_t>(s.pid), std::move(f));
    }
    case VT_REC_PROC_START: {
      vt_proc_start ps{};
      record_payload(rec, ps);
      f.kind = Kind::proc_start;
      f.parent = ps.ppid;
      f.ns_pid = ps.ns_pid;
      f.argv = split_argv(strings.get(VT_STR_ARGV));
      f.argv_cut = argv_cut_of(strings.get(VT_STR_ARGV_CUT), strings.has(VT_STR_ARGV_CUT));
      f.exe = strings.get(VT_STR_EXE);
      f.cwd = strings.get(VT_STR_CWD);
      if (collector) return;
      return add(chunk.pid, std::move(f));
    }
    case VT_REC_EXEC: {
      vt_proc_start ps{};
      if (record_payload(rec, ps)) {
        f.parent = ps.ppid;
        f.ns_pid = ps.ns_pid;
      }
      f.kind = Kind::exec;
      f.path = strings.get(VT_STR_PATH);
      f.argv = split_argv(strings.get(VT_STR_ARGV));
      f.argv_cut = argv_cut_of(strings.get(VT_STR_ARGV_CUT), strings.has(VT_STR_ARGV_CUT));
      return add(chunk.pid, std::move(f));
    }
    case VT_REC_EXEC_FAILED:
      f.kind = Kind::exec_failed;
      return add(chunk.pid, std::move(f));
    case VT_REC_EXIT: {
      vt_usage u;
      f.kind = Kind::exit;
      if (record_payload(rec, u)) f.usage = Usage{u.utime_ns, u.stime_ns, u.maxrss_kb};
      return add(chunk.pid, std::move(f));
    }
    case VT_REC_REAP: {
      vt_reap r;
      if (!record_payload(rec, r) || r.pid <= 0) return;
      f.kind = Kind::reap;
      f.status = static_cast<int>(rec.aux);
      if (r.has_usage) f.usage = Usage{r.usage.utime_ns, r.usage.stime_ns, r.usage.maxrss_kb};
      return add(static_cast<std::uint32_t>(r.pid), std::move(f));
    }
    case VT_REC_THREAD_START:
      f.kind = Kind::thread_start;
      return add(chunk.pid, std::move(f));
    case VT_REC_THREAD_EXIT:
      f.kind = Kind::thread_exit;
      return add(chunk.pid, std::move(f));
    case VT_REC_MODULE: {
      vt_module m;
      if (collector || !record_payload(rec, m) || !strings.has(VT_STR_PATH)) return;
      modules_.add(image_key(chunk.pid, chunk.image), rec.ts,
                   Module{m.bias, m.low, m.high, std::string(strings.get(VT_STR_PATH))});
      return;
    }
    case VT_REC_THREAD_NAME:
      f.kind = Kind::thread_name;
      f.tid = rec.aux;
      f.name = strings.get(VT_STR_NAME);
      return add(chunk.pid, std::move(f));
    default:
      break;
  }
  if (!collector) return;  // the records below are viztrace's own word, never a target's
  switch (rec.type) {
    case VT_REC_CLOCK: {
      vt_clock c;
      if (record_payload(rec, c)) clock_samples_.push_back(ClockSample{rec.ts, c.tsc});
      return;
    }
    case VT_REC_SESSION: {
      vt_session s;
      if (session_.known || !record_payload(rec, s)) return;
      session_.known = true;
      session_.ts = rec.ts;
      session_.realtime_ns = s.realtime_ns;
      session_.target_pid = static_cast<std::uint32_t>(std::max(s.target_pid, 0));
      session_.viztrace_pid = static_cast<std::uint32_t>(std::max(s.viztrace_pid, 0));
      session_.command = split_argv(strings.get(VT_STR_COMMAND));
      session_.cwd = strings.get(VT_STR_CWD);
      return;
    }
    case VT_REC_OBSERVED: {
      vt_observed o;
      if (!record_payload(rec, o) || o.pid <= 0) return;
      // A new child, or (VT_OBSERVED_EXEC) a new image of a process followed through /proc.
      // A fork child (VT_OBSERVED_FORK) runs its parent's program: named like one the shim saw.
      f.kind = (rec.aux & VT_OBSERVED_EXEC)   ? Kind::exec
               : (rec.aux & VT_OBSERVED_FORK) ? Kind::fork
                                              : Kind::observed;
      f.parent = static_cast<std::uint32_t>(std::max(o.ppid, 0));
      if (f.kind != Kind::fork) {
        f.argv = split_argv(strings.get(VT_STR_ARGV));
        f.exe = strings.get(VT_STR_EXE);
      }
      return add(static_cast<std::uint32_t>(o.pid), std::move(f));
    }
    case VT_REC_ENDED: {
      vt_ended e;
      if (!record_payload(rec, e) || e.pid <= 0) return;
      f.kind = Kind::ended;
      f.status = e.status;
      return add(static_cast<std::uint32_t>(e.pid), std::move(f));
    }
    case VT_REC_SIGNAL: {
      vt_pid to{};
      record_payload(rec, to);
      signals_.push_back({rec.ts, static_cast<int>(rec.aux), to.pid});
      return;
    }
    case VT_REC_STATS: {
      vt_stats st;
      if (!record_payload(rec, st)) return;
      stats_ = st;
      session_.end = rec.ts;
      return;
    }
    default:
      return;  // a record type from a newer shim: skipped
  }
}

TraceModel ProcessTable::resolve(const RecordDecoder& decoder,
                                 std::uint64_t spill_damaged_bytes) const {
  TraceModel m;
  m.session = session_;
  m.events = decoder.counts().events;

  StreamsByPid streams;  // of traced processes
  std::uint64_t first_ts = UINT64_MAX, last_ts = 0;
  decoder.for_each_stream([&](const StreamKey& key, const StreamInfo& info) {
    if (info.records == 0) return;
    first_ts = std::min(first_ts, info.first_ts);
    last_ts = std::max(last_ts, info.last_ts);
    if (!info.collector) streams[key.pid].push_back({key.tid, info.first_ts, info.last_ts});
  });
  m.origin = session_.known ? session_.ts : (first_ts == UINT64_MAX ? 0 : first_ts);
  // The collector's counts handed over in memory: it ended the run, though its STATS record
  // may not have reached the spill. Its own last record is then the nearest to that end.
  if (stats_ && !m.session.end && last_ts > 0) m.session.end = last_ts;

  std::vector<Instant> exec_failures;
  resolve_processes(facts_, streams, m.session, m.processes, exec_failures);
  std::stable_sort(m.processes.begin(), m.processes.end(), [](const Process& a, const Process& b) {
    return a.start != b.start ? a.start < b.start : a.pid < b.pid;
  });
  const PidIndex by_pid = assign_json_pids(m.processes);
  inherit_fork_argv(m.processes, by_pid);
  m.target = find_target(m.processes, by_pid, session_);

  auto json_pid = [&](std::uint32_t pid, std::uint64_t ts) {
    const Process* p = process_at(m.processes, by_pid, pid, ts);
    return p ? p->json_pid : pid;
  };
  for (Instant& in : exec_failures) {
    in.pid = json_pid(in.pid, in.ts);
    m.instants.push_back(std::move(in));
  }
  for (const SpawnFailure& s : spawn_failures_) {
    Instant in;
    in.ts = s.ts;
    if (s.from_collector) {
      in.pid = in.tid = session_.viztrace_pid;
    } else {
      in.pid = json_pid(s.pid, s.ts);
      in.tid = s.tid;
    }
    in.name = "spawn failed: " + basename_of(s.path);
    in.text_args.emplace_back("path", s.path);
    in.text_args.emplace_back("error", errno_name(s.error));
    in.number_args.emplace_back("errno", s.error);
    in.argv = s.argv;
    m.instants.push_back(std::move(in));
  }
  for (const Signal& s : signals_) {
    Instant in;
    in.ts = s.ts;
    in.pid = in.tid = session_.viztrace_pid;
    in.global = true;
    in.name = "viztrace got " + signal_name(s.signal);
    in.number_args.emplace_back("signal", s.signal);
    if (s.forwarded_to > 0) in.number_args.emplace_back("forwarded_to", s.forwarded_to);
    m.instants.push_back(std::move(in));
  }
  annotations_.resolve(
      [&](std::uint32_t pid, std::uint64_t ts) { return process_at(m.processes, by_pid, pid, ts); },
      m);
  std::stable_sort(m.instants.begin(), m.instants.end(),
                   [](const Instant& a, const Instant& b) { return a.ts < b.ts; });

  const DecodeCounts& c = decoder.counts();
  if (stats_) {  // the collector saw every chunk arrive: its counts are the complete ones
    m.lost.dropped_records = stats_->dropped_records;
    m.lost.seq_gaps = stats_->seq_gaps;
    m.lost.bad_chunks = stats_->bad_chunks;
    m.lost.bad_bytes = stats_->bad_bytes;
    m.lost.spill_lost = stats_->spill_lost;
    m.lost.no_space_records = stats_->no_space_records;
    m.lost.no_space_threads = stats_->no_space_threads;
  } else {  // no final word from the collector: count what the spill shows
    m.lost.dropped_records = c.dropped_records;
    m.lost.seq_gaps = c.seq_gaps;
  }
  for (const Process& p : m.processes)
    for (const Image& im : p.images)
      if (im.argv_cut) {
        ++m.lost.argv_cut;
        m.lost.argv_arguments_left_out += im.argv_cut->arguments;
      }
  m.lost.damaged_bytes = spill_damaged_bytes + c.damaged_bytes;
  m.lost.damaged_spots = c.damaged_chunks + (spill_damaged_bytes > 0 ? 1 : 0);

  m.end = m.origin;
  for (const Process& p : m.processes) {
    m.end = std::max(m.end, p.end);
    for (const Thread& t : p.threads) m.end = std::max(m.end, t.end);
  }
  for (const Instant& in : m.instants) m.end = std::max(m.end, in.ts);
  for (const Span& sp : m.spans) m.end = std::max(m.end, sp.end);
  for (const Counter& counter : m.counters)
    if (!counter.samples.empty()) m.end = std::max(m.end, counter.samples.back().first);
  if (m.processes.empty()) m.end = std::max(m.end, last_ts);
  return m;
}

}  // namespace viztrace::report
