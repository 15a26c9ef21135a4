#include "report/model/incarnation.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace viztrace::report {
namespace {

using Fact = LifecycleFact;
using Kind = Fact::Kind;

// Whether the program the shim announced (exe) can be the one named `other`.
bool same_program(const std::string& exe, const std::string& other) {
  return exe.empty() || other.empty() || basename_of(exe) == basename_of(other);
}

// Whether a PROC_START announces im itself, rather than an image from an exec nobody recorded
// (one done by a program the shim could not enter, or one /proc saw before it exec'd).
bool announces(const Fact& f, const Image& im) {
  if (im.confirmed) return false;
  if (im.exe_flags & VT_EXE_SHIMLESS) return same_program(f.exe, im.path);
  if (std::strcmp(im.started_by, "observed") == 0) return same_program(f.exe, im.exe);
  return true;
}

// Whether argv is the whole of which cut is the first part: the collector's record of the
// command it launched holds all of an argv the shim had to cut.
bool completes(const std::vector<std::string>& argv, bool argv_cut,
               const std::vector<std::string>& cut) {
  return !argv_cut && argv.size() > cut.size() && std::equal(cut.begin(), cut.end(), argv.begin());
}

void confirm(Image& im, const Fact& f) {
  if (!f.argv.empty() && !(f.argv_cut && completes(im.argv, im.argv_cut.has_value(), f.argv))) {
    im.argv = f.argv;
    im.argv_cut = f.argv_cut;
  }
  if (!f.exe.empty()) {
    im.exe = f.exe;
    im.exe_as_execed = true;
  }
  if (!f.cwd.empty()) im.cwd = f.cwd;
  im.confirmed = true;
}

Image exec_image(const Fact& f, const Image& previous) {
  Image im;
  im.start = f.ts;
  im.started_by = "exec";
  im.cwd = previous.cwd;  // exec keeps the working directory
  im.exec_tid = f.tid;
  return im;
}

struct ThreadFacts {
  std::optional<std::uint64_t> start, exit;
  std::uint64_t first_seen = UINT64_MAX, last_seen = 0;
  std::optional<std::string> name;  // the latest
  std::uint64_t name_ts = 0;
  void seen(std::uint64_t ts) {
    first_seen = std::min(first_seen, ts);
    last_seen = std::max(last_seen, ts);
  }
};

// The facts that decide how the incarnation began and ended.
struct KeyFacts {
  const Fact *fork = nullptr, *spawn = nullptr, *observed = nullptr;
  const Fact* first_start = nullptr;  // a PROC_START before any EXEC: the first image's
  const Fact* any_start = nullptr;
  const Fact* first_exec = nullptr;
  const Fact* lead_exec = nullptr;  // an EXEC nothing announced before: a vfork child's
  const Fact *exit = nullptr, *reap = nullptr, *ended = nullptr, *ended_status = nullptr;
  std::uint64_t own_first = UINT64_MAX, own_last = 0;  // the process's own records

  KeyFacts(const std::vector<const Fact*>& facts, const std::vector<StreamSpan>& streams) {
    bool exec_seen = false;
    for (const Fact* f : facts) {
      switch (f->kind) {
        case Kind::fork:
          if (!fork) fork = f;
          break;
        case Kind::spawn:
          if (!spawn) spawn = f;
          break;
        case Kind::observed:
          if (!observed) observed = f;
          break;
        case Kind::proc_start:
          if (!any_start) any_start = f;
          if (!first_start && !exec_seen) first_start = f;
          break;
        case Kind::exec:
          if (!first_exec) first_exec = f;
          exec_seen = true;
          break;
        case Kind::exit:
          exit = f;
          break;  // the last: exit() may be followed by _exit()
        case Kind::reap:
          if (!reap) reap = f;
          break;
        case Kind::ended:
          if (!ended) ended = f;
          if (!ended_status && f->status >= 0) ended_status = f;
          break;
        default:
          break;
      }
      if (f->is_own()) {
        own_first = std::min(own_first, f->ts);
        own_last = std::max(own_last, f->ts);
      }
    }
    for (const StreamSpan& s : streams) {
      own_first = std::min(own_first, s.first_ts);
      own_last = std::max(own_last, s.last_ts);
    }
    if (!fork && !spawn && !observed && !first_start) lead_exec = first_exec;
  }
  bool has_own() const { return own_first != UINT64_MAX; }
};

// The first image, as whoever started the process described it.
Image first_image(const KeyFacts& k, std::uint64_t start) {
  Image first;
  first.start = start;
  if (k.spawn) {
    first.started_by = k.spawn->from_collector ? "launch" : "spawn";
    first.path = k.spawn->path;
    first.argv = k.spawn->argv;
    first.argv_cut = k.spawn->argv_cut;
    first.exe_flags = k.spawn->aux;
  } else if (k.fork || (k.first_start && (k.first_start->aux & VT_PROC_FORKED))) {
    first.started_by = "fork";
  } else if (k.observed) {
    first.started_by = "observed";
  } else if (k.lead_exec) {  // vfork + exec: a spawn, seen from the child only
    first.path = k.lead_exec->path;
    first.argv = k.lead_exec->argv;
    first.argv_cut = k.lead_exec->argv_cut;
    first.exe_flags = k.lead_exec->aux;
    first.exec_tid = k.lead_exec->tid;
  }
  if (k.observed && !k.spawn) {
    first.argv = k.observed->argv;
    first.argv_cut.reset();
    first.exe = k.observed->exe;
  }
  return first;
}

void add_threads(Process& p, std::map<std::uint32_t, ThreadFacts>& threads) {
  for (auto& [tid, t] : threads) {
    if (tid == p.pid || tid == 0) continue;  // the main thread is the process's own track
    Thread th;
    th.tid = tid;
    th.start = t.start.value_or(t.first_seen == UINT64_MAX ? p.start : t.first_seen);
    if (t.exit) {
      th.end = *t.exit;
    } else {  // it lived until the image it was last seen in ended (exec ends all threads)
      th.end_unknown = true;
      th.end = p.end;
      for (const Image& im : p.images)
        if (t.last_seen >= im.start && t.last_seen < im.end) th.end = im.end;
    }
    th.end = std::max(th.end, th.start);
    th.name = t.name && !t.name->empty() ? *t.name : "thread " + std::to_string(tid);
    p.threads.push_back(std::move(th));
  }
  std::stable_sort(p.threads.begin(), p.threads.end(),
                   [](const Thread& a, const Thread& b) { return a.start < b.start; });
}

}  // namespace

std::optional<Incarnation> resolve_incarnation(std::uint32_t pid,
                                               const std::vector<const Fact*>& facts,
                                               const std::vector<StreamSpan>& streams,
                                               const Session& session) {
  const KeyFacts k(facts, streams);
  if (!k.fork && !k.spawn && !k.observed && !k.has_own()) return std::nullopt;

  Incarnation inc;
  Process& p = inc.process;
  p.pid = p.json_pid = pid;

  // Start: the earliest announcement, whichever side wrote it (a child often runs first).
  std::uint64_t start = UINT64_MAX;
  for (const Fact* f : {k.fork, k.spawn, k.first_start, k.observed, k.lead_exec})
    if (f) start = std::min(start, f->ts);
  if (start == UINT64_MAX) {
    p.start_unknown = true;
    start = k.own_first;
  }
  p.start = start;

  if (k.fork)
    p.ppid = k.fork->from_collector ? k.fork->parent : k.fork->writer;
  else if (k.spawn)
    p.ppid = k.spawn->from_collector ? session.viztrace_pid : k.spawn->writer;
  else if (k.first_start)
    p.ppid = k.first_start->parent;
  else if (k.observed)
    p.ppid = k.observed->parent;
  else if (k.any_start)
    p.ppid = k.any_start->parent;
  else if (k.first_exec)
    p.ppid = k.first_exec->parent;
  // A child in a PID namespace whose parent viztrace could not name (gone too soon): its
  // parent is who reaped it.
  if (p.ppid == 0 && k.reap && !k.reap->from_collector) p.ppid = k.reap->writer;
  for (const Fact* f : facts)
    if (f->ns_pid && !p.ns_pid) p.ns_pid = f->ns_pid;
  p.is_target = k.spawn && k.spawn->from_collector;
  p.images.push_back(first_image(k, start));

  std::map<std::uint32_t, ThreadFacts> threads;
  for (const Fact* f : facts) {
    if (f->is_own() && f->kind != Kind::thread_name) threads[f->tid].seen(f->ts);
    switch (f->kind) {
      case Kind::proc_start:
        // The shim entered an image: the first one, the one the latest exec began, or one from
        // an exec nobody recorded.
        if (!announces(*f, p.images.back())) p.images.push_back(exec_image(*f, p.images.back()));
        confirm(p.images.back(), *f);
        break;
      case Kind::exec: {
        if (f == k.lead_exec) break;  // it began the first image
        Image im = exec_image(*f, p.images.back());
        im.path = f->path;
        im.exe = f->exe;    // seen through /proc (the shim's EXEC has a path, no exe)
        im.argv = f->argv;  // provisional, until the image's PROC_START
        im.argv_cut = f->argv_cut;
        im.exe_flags = f->from_collector ? 0 : f->aux;  // an OBSERVED record's aux is its own
        p.images.push_back(std::move(im));
        break;
      }
      case Kind::exec_failed: {
        Instant in;
        in.ts = f->ts;
        in.pid = pid;
        in.tid = f->tid;
        in.text_args.emplace_back("error", errno_name(static_cast<int>(f->aux)));
        in.number_args.emplace_back("errno", static_cast<std::int64_t>(f->aux));
        Image& last = p.images.back();
        if (last.exec_tid != 0 && last.exec_tid == f->tid && !last.confirmed) {
          in.name = "exec failed: " + last.name();
          in.text_args.emplace_back("path", last.path);
          in.argv = last.argv;
          if (p.images.size() > 1) {
            p.images.pop_back();  // the earlier image goes on
          } else {                // a vfork child's: it goes on running its parent's program
            last = Image{};
            last.start = start;
            last.started_by = "fork";
          }
        } else {
          in.name = "exec failed";
        }
        inc.instants.push_back(std::move(in));
        break;
      }
      case Kind::thread_start:
        threads[f->tid].start = f->ts;
        break;
      case Kind::thread_exit:
        threads[f->tid].exit = f->ts;
        break;
      case Kind::thread_name: {
        ThreadFacts& t = threads[f->tid];
        t.seen(f->ts);
        if (!t.name || f->ts >= t.name_ts) {
          t.name = f->name;
          t.name_ts = f->ts;
        }
        break;
      }
      default:
        break;
    }
  }
  for (const StreamSpan& s : streams) {
    threads[s.tid].seen(s.first_ts);
    threads[s.tid].seen(s.last_ts);
  }

  // End: the process's own word, else the pidfd's, else the reaper's, else its last sign of
  // life; never before anything it wrote itself.
  std::uint64_t end;
  if (k.exit)
    end = k.exit->ts;
  else if (k.ended)
    end = k.ended->ts;
  else if (k.reap)
    end = k.reap->ts;
  else {
    end = k.has_own() ? k.own_last : start;
    if (session.end) end = std::max(end, *session.end);  // it was still running then
    p.end_unknown = true;
  }
  if (k.has_own()) end = std::max(end, k.own_last);
  for (std::size_t i = 1; i < p.images.size(); ++i)
    p.images[i].start = std::max(p.images[i].start, p.images[i - 1].start);
  p.end = std::max({end, start, p.images.back().start});
  for (std::size_t i = 0; i < p.images.size(); ++i)
    p.images[i].end = i + 1 < p.images.size() ? p.images[i + 1].start : p.end;

  if (k.reap)
    p.wait_status = k.reap->status;
  else if (k.ended_status)
    p.wait_status = k.ended_status->status;
  if (p.wait_status)
    p.status = ExitStatus::from_wait_status(*p.wait_status);
  else if (k.exit)
    p.status = ExitStatus::from_exit_code(static_cast<int>(k.exit->aux));
  inc.reaped = k.reap != nullptr;
  if (k.reap && k.reap->usage) inc.reaped_usage = k.reap->usage;
  if (k.exit && k.exit->usage) inc.exit_usage = k.exit->usage;

  // Traced: the shim announced the image, or wrote from inside it. A stream whose first record
  // is the EXEC that began an image was written by the program before it.
  for (Image& im : p.images) {
    const bool last = &im == &p.images.back();
    const bool begun_by_exec = &im != &p.images.front() || im.exec_tid != 0;
    im.traced = im.confirmed;
    for (const StreamSpan& s : streams)
      if ((s.first_ts > im.start || (!begun_by_exec && s.first_ts == im.start)) &&
          (s.first_ts < im.end || last))
        im.traced = true;
  }
  add_threads(p, threads);
  return inc;
}

}  // namespace viztrace::report
