#include "report/readers/trace_samples.h"

#include <algorithm>

namespace viztrace::report {

std::uint32_t TraceSamples::id_index(std::string_view id) {
  auto it = ids_.find(id);
  if (it != ids_.end()) return it->second;
  const auto index = static_cast<std::uint32_t>(entries_.size());
  entries_.emplace_back();
  ids_.emplace(std::string(id), index);
  return index;
}

std::uint32_t TraceSamples::thread_index(const SampleThread& t) {
  if (last_thread_ != kNone && threads_[last_thread_].where == t) return last_thread_;
  auto [it, fresh] = thread_ids_.try_emplace(t, static_cast<std::uint32_t>(threads_.size()));
  if (fresh) threads_.push_back({t, {}});
  last_thread_ = it->second;
  return it->second;
}

void TraceSamples::frame(const TraceStackFrame& f) {
  ++counts_.frames;
  const std::uint32_t id = id_index(f.id);
  Entry& e = entries_[id];
  if (e.state != State::undefined) {
    ++counts_.duplicate_ids;
    return;
  }
  e.state = State::defined;
  e.name = tl_.intern(f.name.empty() ? "(unnamed)" : f.name);
  // "[unknown]" is how a module nobody knew is written (ChromeJsonWriter).
  e.module = f.category.empty() || f.category == "[unknown]" ? 0 : tl_.intern(f.category);
  // id_index may grow entries_: e is not used after it.
  const std::uint32_t parent = f.parent.empty() ? kNone : id_index(f.parent);
  entries_[id].parent = parent;
}

void TraceSamples::sample(const TraceEvent& s) {
  if (!s.has_ts || (!s.has_pid && !s.has_tid)) {
    ++counts_.unplaced;
    return;
  }
  SampleThread thread{s.has_pid ? s.pid : 0, s.has_tid ? s.tid : s.pid, s.has_pid};
  const std::uint64_t weight =
      s.has_weight && s.weight > 0 ? static_cast<std::uint64_t>(s.weight) : 0;
  const std::uint32_t id = s.sf.empty() ? kNone : id_index(s.sf);
  threads_[thread_index(thread)].samples.push_back({static_cast<std::uint64_t>(s.ts), id, weight});
}

std::uint32_t TraceSamples::node_of(std::uint32_t id) {
  path_.clear();
  for (std::uint32_t at = id;;) {
    Entry& e = entries_[at];
    if (e.state == State::done) break;
    if (e.state == State::visiting) {  // the frame walked last closes a cycle: it is outermost
      entries_[path_.back()].parent = kNone;
      ++counts_.broken_parents;
      break;
    }
    e.state = State::visiting;
    path_.push_back(at);
    if (e.parent == kNone) break;
    if (entries_[e.parent].state == State::undefined) {
      e.parent = kNone;
      ++counts_.broken_parents;
      break;
    }
    at = e.parent;
  }
  for (auto it = path_.rbegin(); it != path_.rend(); ++it) {  // outermost first
    Entry& e = entries_[*it];
    TimelineFrame frame;
    frame.name = e.name;
    frame.module = e.module;
    const std::uint32_t parent = e.parent == kNone ? 0 : entries_[e.parent].node;
    e.node = tl_.intern_stack(parent, tl_.intern_frame(frame));
    e.state = State::done;
  }
  return entries_[id].node;
}

void TraceSamples::resolve(const Place& place) {
  for (Thread& t : threads_) {
    std::size_t kept = 0;  // in place: those naming no frame of the file are left out
    for (const TimelineSample& s : t.samples) {
      std::uint32_t stack = 0;
      if (s.stack != kNone) {
        if (entries_[s.stack].state == State::undefined) {
          ++counts_.unknown_frame;
          continue;
        }
        stack = node_of(s.stack);
      }
      t.samples[kept++] = {s.ts, stack, s.weight_ns};
    }
    t.samples.resize(kept);
    counts_.samples += kept;
    if (kept > 0) place(t.where, std::move(t.samples));
    std::vector<TimelineSample>().swap(t.samples);
  }
  std::vector<Thread>().swap(threads_);
  std::vector<Entry>().swap(entries_);
  ids_.clear();
}

}  // namespace viztrace::report
