#include "report/model/function_pass.h"

#include <algorithm>
#include <cstdio>

#include "common/error.h"
#include "spill/fn_pack.h"

namespace viztrace::report {
namespace {

std::unique_ptr<std::regex> compile(const std::string& pattern, const char* which) {
  if (pattern.empty()) return nullptr;
  try {
    return std::make_unique<std::regex>(function_name_regex(pattern));
  } catch (const std::regex_error& e) {
    throw Error(std::string(which) + " pattern " + function_pattern_problem(pattern, e));
  }
}

}  // namespace

std::regex function_name_regex(const std::string& pattern) {
  return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
}

std::string function_pattern_problem(const std::string& pattern, const std::regex_error& e) {
  return "'" + pattern + "' is not a valid regular expression: " + e.what();
}

FunctionPass::FunctionPass(const TraceModel& model, const ModuleMap& modules,
                           const std::vector<ClockSample>& clock, const FunctionFilter& filter,
                           Sink sink)
    : model_(model),
      modules_(modules),
      filter_(filter),
      include_(compile(filter.include, "include")),
      exclude_(compile(filter.exclude, "exclude")),
      sink_(std::move(sink)),
      clock_(clock) {}

FunctionPass::~FunctionPass() = default;

RecordClock::RecordClock(const std::vector<ClockSample>& clock) {
  if (clock.size() >= 2) {
    auto [first, last] = std::minmax_element(
        clock.begin(), clock.end(),
        [](const ClockSample& a, const ClockSample& b) { return a.ns < b.ns; });
    // ns per tick in 32.32 fixed point; rounding error below 1 ns per 2^32 ticks' worth. In 64
    // bits for any clock above 1 tick per second, so that mapping is one multiplication.
    const unsigned __int128 mult =
        last->tsc > first->tsc ? (static_cast<unsigned __int128>(last->ns - first->ns) << 32) /
                                     (last->tsc - first->tsc)
                               : 0;
    if (last->ns > first->ns && mult > 0 && mult <= UINT64_MAX) {
      tsc_mapped_ = true;
      ns0_ = first->ns;
      tsc0_ = first->tsc;
      mult_ = static_cast<std::uint64_t>(mult);
    }
  }
}

std::uint64_t last_record_ns(const vt_chunk_header& h, const unsigned char* body,
                             const RecordClock& clock) {
  std::uint64_t last = 0;
  auto take = [&](const vt_fn_record& r) {
    last = std::max(last, clock.to_ns(r.ts & ~VT_FN_EXIT, h.reserved));
  };
  if (h.kind == VT_KIND_FUNCTIONS_PACKED)
    spill::for_each_packed(body, h.length - sizeof h, h.nrec, take);
  return last;
}

// The process incarnation that ran this stream: the one with its pid alive at the stream's
// first call.
void FunctionPass::resolve(Stream& s) {
  s.resolved = true;
  auto modules = modules_.find(image_key(s.pid, s.image));
  if (modules != modules_.end()) s.modules = &modules->second;
  s.json_pid = s.pid;
  const Process* best = nullptr;
  for (const Process& p : model_.processes) {
    if (p.pid != s.pid) continue;
    if (!best || (p.start <= s.last_ts && p.start >= best->start)) best = &p;
  }
  if (best) s.json_pid = best->json_pid;
}

std::uint32_t FunctionPass::intern(std::string text) {
  auto it = name_ids_.find(text);
  if (it != name_ids_.end()) return it->second;
  Name n;
  n.shown = (!include_ || std::regex_search(text, *include_)) &&
            !(exclude_ && std::regex_search(text, *exclude_));
  n.text = text;
  auto id = static_cast<std::uint32_t>(names_.size());
  names_.push_back(std::move(n));
  name_ids_.emplace(std::move(text), id);
  return id;
}

std::uint32_t FunctionPass::name_of(const Stream& s, std::uint64_t addr, std::uint64_t ts) {
  const std::uint64_t key = image_key(s.pid, s.image);
  const std::uint32_t era =
      s.modules && !s.modules->contested.empty() ? s.modules->era(addr, ts) : 0;
  CacheEntry& recent = recent_[((addr >> 4) ^ (addr >> 14) ^ key ^ era) & (recent_.size() - 1)];
  if (recent.name != UINT32_MAX && recent.addr == addr && recent.key == key && recent.era == era)
    return recent.name;
  const AddrKey cache_key{key, addr, era};
  auto hit = addr_names_.find(cache_key);
  if (hit != addr_names_.end()) {
    recent = CacheEntry{key, addr, hit->second, era};
    return hit->second;
  }
  std::string text;
  const Symbol* sym = nullptr;
  const Module* module = s.modules ? s.modules->find(addr, ts) : nullptr;
  if (module) {
    sym = &symbolizer_.lookup(module->path, addr - module->bias);
    text = sym->name;
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
    text = buf;
  }
  std::uint32_t id = intern(std::move(text));
  Name& n = names_[id];
  if (sym && n.file.empty() && !sym->file.empty() && sym->line != 0) {
    n.file = sym->file;
    n.line = sym->line;
    std::size_t slash = sym->file.rfind('/');
    n.source = sym->file.substr(slash == std::string::npos ? 0 : slash + 1) + ":" +
               std::to_string(sym->line);
  }
  addr_names_.emplace(cache_key, id);
  recent = CacheEntry{key, addr, id, era};
  return id;
}

void FunctionPass::chunk(const vt_chunk_header& h, const unsigned char* body) {
  const std::uint64_t key = std::uint64_t{h.pid} << 32 | h.tid;
  Stream& s = streams_[key];
  if (s.resolved && s.image != h.image) {
    // The thread exec'd a new image: what the old one left open ended with it.
    close(s, s.last_ts, true);
    s = Stream{};
  }
  s.pid = h.pid;
  s.tid = h.tid;
  s.image = h.image;
  const std::uint8_t clock = h.reserved;
  // Decoded as it goes: no copy of the records in between.
  if (!spill::for_each_packed(body, h.length - sizeof h, h.nrec,
                              [&](const vt_fn_record& r) { record(s, r, clock); }))
    ++counts_.malformed_chunks;
}

__attribute__((always_inline)) inline void FunctionPass::record(Stream& s, const vt_fn_record& r,
                                                              std::uint8_t clock) {
  std::uint64_t ts = clock_.to_ns(r.ts & ~VT_FN_EXIT, clock);
  if (ts == 0) {
    ++counts_.unmapped;
    return;
  }
  // A thread's clock never goes back in the report: a call that began before its sibling
  // ended would not nest (viewers drop such slices). Seen once in a few hundred runs under
  // load on a VM, cause not found (its CPUs' TSCs showed no skew against each other).
  if (ts < s.last_ts) {
    ts = s.last_ts;
    ++counts_.clock_steps_back;
  }
  s.last_ts = ts;
  if (!s.resolved) resolve(s);
  if (!(r.ts & VT_FN_EXIT)) {
    s.stack.push(r.addr, ts, name_of(s, r.addr, ts));
    if (events_) decide(s, ts);
    return;
  }
  // The innermost open call of this function; those above it never returned (longjmp).
  std::size_t match = s.stack.size();
  while (match > 0 && s.stack[match - 1].addr != r.addr) --match;
  if (match == 0) {
    ++counts_.unmatched_returns;
    return;
  }
  while (s.stack.size() > match) {
    ++counts_.skipped_returns;
    close(s, ts, false);
  }
  close(s, ts, false);
}

void FunctionPass::decide(Stream& s, std::uint64_t now) {
  while (s.undecided < s.stack.size()) {
    Frame& f = s.stack[s.undecided];
    if (now < f.start || now - f.start < filter_.min_duration_ns) return;
    ++s.undecided;
    if (!names_[f.name].shown) continue;
    if (!s.announced) {
      s.announced = true;
      s.handle = events_->thread(s.json_pid, s.tid);
    }
    events_->begin(s.handle, f.start, f.name);
    f.begun = true;
  }
}

// Ends the innermost open call of s at `end`.
void FunctionPass::close(Stream& s, std::uint64_t end, bool unfinished) {
  if (s.stack.empty()) return;
  if (end < s.stack.back().start) end = s.stack.back().start;
  if (events_) decide(s, end);
  const Frame f = s.stack.back();
  s.stack.pop_back();
  if (s.undecided > s.stack.size()) s.undecided = s.stack.size();
  if (f.begun) events_->end(s.handle, end, unfinished);
  const std::uint64_t dur = end - f.start;
  if (!s.stack.empty()) s.stack.back().child_ns += dur;
  const std::uint32_t name = f.name;
  Name& n = names_[name];
  ++n.count;
  n.total_ns += dur;
  n.self_ns += dur > f.child_ns ? dur - f.child_ns : 0;
  ++counts_.calls;
  if (unfinished) ++counts_.unfinished;
  if (!n.shown || dur < filter_.min_duration_ns) return;
  ++counts_.shown;
  FunctionSlice slice;
  slice.pid = s.json_pid;
  slice.tid = s.tid;
  slice.start = f.start;
  slice.end = end;
  slice.name = name;
  slice.depth = static_cast<std::uint32_t>(s.stack.size());
  slice.unfinished = unfinished;
  if (sink_) sink_(slice);
}

void FunctionPass::finish() {
  for (auto& [key, s] : streams_) {
    if (s.stack.empty()) continue;
    // Where the thread ended, else its process, else its last call.
    std::uint64_t end = s.last_ts;
    for (const Process& p : model_.processes) {
      if (p.json_pid != s.json_pid) continue;
      std::uint64_t thread_end = p.end;
      for (const Thread& t : p.threads)
        if (t.tid == s.tid && t.end) thread_end = t.end;
      if (!p.end_unknown && thread_end > end) end = thread_end;
    }
    while (!s.stack.empty()) close(s, end, true);
  }
}

std::vector<FunctionTotals> FunctionPass::top(std::size_t n) const {
  std::vector<FunctionTotals> all;
  for (std::uint32_t i = 0; i < names_.size(); ++i)
    if (names_[i].count)
      all.push_back({i, names_[i].count, names_[i].total_ns, names_[i].self_ns});
  std::sort(all.begin(), all.end(), [](const FunctionTotals& a, const FunctionTotals& b) {
    return a.self_ns != b.self_ns ? a.self_ns > b.self_ns : a.name < b.name;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace viztrace::report
