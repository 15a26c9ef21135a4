#include "report/readers/slice_stack.h"

#include <algorithm>

namespace viztrace::report {

// Whether inner nests in outer. A B still open holds what arrives while it is open and starts
// with or after it (it is expected to end in time: end() counts it as improper when it does
// not); one that starts with it and ends after its E is its parent (end() swaps them).
bool SliceStack::contains(const Entry& outer, const Entry& inner) {
  if (outer.name == kRun || inner.start < outer.start) return false;
  if (outer.end == kOpen) return true;
  if (inner.end == kOpen) return inner.start < outer.end;
  return inner.end <= outer.end;
}

// Whether a finished entry lies within s. A B just opened holds those that start after it; one
// that started with it holds it instead, unless its E tells otherwise (end() swaps them).
bool SliceStack::inside(const Entry& inner, const Entry& outer) {
  if (inner.end == kOpen || inner.start < outer.start) return false;
  if (outer.end == kOpen) return inner.start > outer.start;
  return inner.end <= outer.end;
}

void SliceStack::emit(Sink& sink, const Entry& e) {
  if (e.name == kRun) return;  // its members were emitted when merged
  std::int64_t self = e.dur - e.child;
  if (self < 0) {  // children over-counted: only after an approximation
    ++counts_.approximate;
    self = 0;
  }
  sink.slice(e.name, e.dur, self);
}

void SliceStack::begin(Sink& sink, NameId name, std::int64_t ts) {
  arrive(sink, Entry{ts, kOpen, 0, 0, -1, name});
}

void SliceStack::complete(Sink& sink, NameId name, std::int64_t ts, std::int64_t dur) {
  arrive(sink, Entry{ts, ts + dur, dur, 0, -1, name});
}

void SliceStack::arrive(Sink& sink, Entry s) {
  // 1. Finished slices on top that s contains are its descendants, written before it.
  while (!stack_.empty() && inside(stack_.back(), s)) {
    const Entry t = stack_.back();
    stack_.pop_back();
    // A direct child of s unless its parent is inside s too (and so claimed with it). It may
    // have been counted under an outer slice, which now has s in between.
    if (t.parent < 0 || !inside(stack_[static_cast<std::size_t>(t.parent)], s)) {
      s.child += t.dur;
      if (t.parent >= 0) stack_[static_cast<std::size_t>(t.parent)].child -= t.dur;
    }
    emit(sink, t);
  }

  // 2. The parent: the innermost entry containing s. Entries that ended before s lead to it
  // through their parent links (whatever contains s contains them too).
  std::int32_t p = static_cast<std::int32_t>(stack_.size()) - 1;
  while (p >= 0) {
    const Entry& c = stack_[static_cast<std::size_t>(p)];
    if (contains(c, s)) break;
    if (c.end != kOpen && c.end <= s.start) {
      p = c.parent;
    } else if (c.name == kRun) {  // s falls among merged siblings: their parent is its parent
      ++counts_.approximate;
      p = c.parent;
    } else if (s.end != kOpen) {  // overlaps c without nesting: a slice on its own
      ++counts_.improper;
      emit(sink, s);
      return;
    } else {  // a B that starts before an open B: nests in it, as B/E do in file order
      ++counts_.improper;
      p = open_.empty() ? -1 : open_.back();
      break;
    }
  }

  // 3. Tidy the level s joins, then push s.
  collapse(sink, p);
  merge(sink, p);
  s.parent = p;
  if (p >= 0 && s.end != kOpen) stack_[static_cast<std::size_t>(p)].child += s.dur;
  if (s.end == kOpen) open_.push_back(static_cast<std::int32_t>(stack_.size()));
  stack_.push_back(s);
}

// The entries above parent are its finished children in start order, plus the descendants of
// the last one. A new child means those descendants are final: they leave the stack.
void SliceStack::collapse(Sink& sink, std::int32_t parent) {
  std::size_t keep = stack_.size();
  while (keep > static_cast<std::size_t>(parent + 1) && stack_[keep - 1].parent != parent) --keep;
  while (stack_.size() > keep) {
    emit(sink, stack_.back());
    stack_.pop_back();
  }
}

// Too many finished entries wait under parent: the older three quarters are packed, in order,
// into runs of at most cap members each, cap chosen so that they fill at most a quarter of the
// limit. The newest quarter stays as it is: its parent is most likely the next arrival. A later
// parent still claims whole runs; one that starts inside a run (only a slice written after more
// than limit / 4 waiting children) misses at most that run, and is counted as approximate.
void SliceStack::merge(Sink& sink, std::int32_t parent) {
  const std::size_t first = static_cast<std::size_t>(parent + 1);
  if (stack_.size() - first < max_siblings_) return;
  const std::size_t last = stack_.size() - max_siblings_ / 4;
  auto members = [](const Entry& e) { return e.name == kRun ? e.child : std::int64_t{1}; };
  std::int64_t total = 0;
  for (std::size_t i = first; i < last; ++i) total += members(stack_[i]);
  // Greedy packing leaves at most 2 * total / cap + 1 runs.
  const std::int64_t cap =
      std::max<std::int64_t>(2, 8 * total / static_cast<std::int64_t>(max_siblings_) + 1);
  std::size_t out = first;
  for (std::size_t i = first; i < last; ++i) {
    const Entry e = stack_[i];
    if (out > first && members(stack_[out - 1]) + members(e) <= cap) {
      Entry& run = stack_[out - 1];
      if (run.name != kRun) {
        emit(sink, run);
        run.name = kRun;
        run.child = 1;  // a run keeps its member count here
      }
      emit(sink, e);
      run.end = e.end;
      run.dur += e.dur;
      run.child += members(e);
    } else {
      stack_[out++] = e;
    }
  }
  stack_.erase(stack_.begin() + static_cast<std::ptrdiff_t>(out),
               stack_.begin() + static_cast<std::ptrdiff_t>(last));
}

void SliceStack::end(Sink& sink, std::int64_t ts, NameId name) {
  (void)sink;
  std::size_t match = open_.size();
  while (match > 0 && name != kAnyName &&
         stack_[static_cast<std::size_t>(open_[match - 1])].name != name)
    --match;
  if (match == 0) {
    ++counts_.unmatched_ends;
    return;
  }
  while (open_.size() > match) {  // open B's inside the one this E ends: they end with it
    ++counts_.improper;
    close_innermost(ts);
  }
  close_innermost(ts);
}

void SliceStack::close_innermost(std::int64_t ts) {
  std::size_t i = static_cast<std::size_t>(open_.back());
  open_.pop_back();
  if (ts < stack_[i].start) {  // time running backwards on a thread
    ++counts_.improper;
    ts = stack_[i].start;
  }
  bool swapped = false;
  i = swap_with_shorter_parent(i, ts);
  i = swap_with_longer_child(i, ts, swapped);
  Entry& o = stack_[i];
  o.end = ts;
  o.dur = ts - o.start;
  if (o.parent >= 0) {
    Entry& parent = stack_[static_cast<std::size_t>(o.parent)];
    parent.child += o.dur;
    if (parent.end != kOpen && o.end > parent.end) ++counts_.improper;
  }
  if (!swapped && stack_.size() > i + 1 && stack_.back().end > o.end) ++counts_.improper;
}

// The B at index i ends at ts. When its parent (the entry just below) is a finished slice that
// started with it but ends before ts, that slice is its child instead: they swap places, and
// the B's children that lie within the slice become the slice's. Returns the B's index.
std::size_t SliceStack::swap_with_shorter_parent(std::size_t i, std::int64_t ts) {
  if (i == 0 || stack_[i].parent != static_cast<std::int32_t>(i - 1)) return i;
  Entry& below = stack_[i - 1];
  if (below.end == kOpen || below.name == kRun || below.start != stack_[i].start || below.end >= ts)
    return i;
  Entry inner = below;
  Entry outer = stack_[i];
  const auto at = static_cast<std::int32_t>(i - 1), up = static_cast<std::int32_t>(i);
  outer.parent = inner.parent;
  if (outer.parent >= 0) stack_[static_cast<std::size_t>(outer.parent)].child -= inner.dur;
  inner.parent = at;
  outer.child += inner.dur;
  bool missed = false;  // children of the B already handed out may have been the slice's
  bool first = true;
  for (std::size_t k = i + 1; k < stack_.size(); ++k) {
    Entry& e = stack_[k];
    if (e.parent != up) continue;
    if (first && e.start >= inner.end && outer.child > inner.dur) missed = true;
    first = false;
    if (e.end != kOpen && e.end <= inner.end) {  // the slice's child, not the B's
      outer.child -= e.dur;
      inner.child += e.dur;
    } else {
      e.parent = at;
    }
  }
  if (first && outer.child > inner.dur) missed = true;
  if (missed) ++counts_.approximate;
  stack_[i - 1] = outer;
  stack_[i] = inner;
  return i - 1;
}

// The B at index i ends at ts. When its first child (the entry just above) is a finished slice
// that started with it but ends after ts, that slice is its parent instead: they swap places,
// and the slice's children that lie within the B become the B's. Returns the B's index.
std::size_t SliceStack::swap_with_longer_child(std::size_t i, std::int64_t ts, bool& swapped) {
  if (i + 1 >= stack_.size() || stack_[i + 1].parent != static_cast<std::int32_t>(i)) return i;
  const Entry& above = stack_[i + 1];
  if (above.end == kOpen || above.name == kRun || above.start != stack_[i].start || above.end <= ts)
    return i;
  Entry outer = above;
  Entry inner = stack_[i];
  const auto at = static_cast<std::int32_t>(i), up = static_cast<std::int32_t>(i + 1);
  outer.parent = inner.parent;  // whose child time held inner's, not yet outer's
  if (outer.parent >= 0) stack_[static_cast<std::size_t>(outer.parent)].child += outer.dur;
  inner.parent = at;
  inner.child -= outer.dur;
  // The slice's children on the stack: those that end by ts are the B's. The ones it already
  // handed out came before them: the B's too when a later one starts within the B.
  const std::int64_t outer_children = outer.child;
  std::int64_t seen = 0;
  bool first = true, handed_out_inside = false;
  for (std::size_t k = i + 2; k < stack_.size(); ++k) {
    Entry& e = stack_[k];
    if (e.parent == at) {  // the B's other children stay the B's
      e.parent = up;
      continue;
    }
    if (e.parent != up) continue;
    seen += e.dur;
    if (first) handed_out_inside = e.start <= ts;
    first = false;
    if (e.end != kOpen && e.end <= ts) {
      outer.child -= e.dur;
      inner.child += e.dur;
    } else {
      if (e.start < ts) ++counts_.improper;
      e.parent = at;
    }
  }
  const std::int64_t handed_out = outer_children - seen;
  if (handed_out > 0) {
    if (handed_out_inside) {
      outer.child -= handed_out;
      inner.child += handed_out;
    } else {
      ++counts_.approximate;
    }
  }
  stack_[i] = outer;
  stack_[i + 1] = inner;
  swapped = true;
  return i + 1;
}

void SliceStack::finish(Sink& sink, std::int64_t last_ts) {
  while (!open_.empty()) {
    const Entry& o = stack_[static_cast<std::size_t>(open_.back())];
    ++counts_.unclosed_begins;
    close_innermost(std::max(last_ts, o.start));
  }
  while (!stack_.empty()) {
    emit(sink, stack_.back());
    stack_.pop_back();
  }
}

}  // namespace viztrace::report
