#include "report/model/annotation_table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>

namespace viztrace::report {
namespace {

struct Bounds {
  std::uint64_t start, end;
};

// The slice a span of thread tid at ts must stay inside: the thread's own, or on the main thread
// (and a thread the model does not know) the program's image of that moment.
std::optional<Bounds> bounds_of(const Process* p, std::uint32_t tid, std::uint64_t ts) {
  if (!p) return std::nullopt;
  if (tid != p->pid)
    for (const Thread& t : p->threads)
      if (t.tid == tid) return Bounds{t.start, std::max(t.start, t.end)};
  const Image* im = &p->images.front();
  for (const Image& candidate : p->images)
    if (candidate.start <= ts) im = &candidate;
  return Bounds{im->start, std::max(im->start, im->end)};
}

void add_args(std::string_view items, TextArgs& text, NumberArgs& number) {
  while (!items.empty()) {
    std::size_t nul = items.find('\0');
    std::string_view item = items.substr(0, nul);
    if (!item.empty()) add_annotation_arg(item, text, number);
    if (nul == std::string_view::npos) break;
    items.remove_prefix(nul + 1);
  }
}

}  // namespace

void add_annotation_arg(std::string_view item, TextArgs& text, NumberArgs& number) {
  std::size_t eq = item.find('=');
  std::string key(item.substr(0, eq));
  std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
  std::erase_if(text, [&](const auto& a) { return a.first == key; });
  std::erase_if(number, [&](const auto& a) { return a.first == key; });
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (!value.empty() && ec == std::errc() && end == value.data() + value.size() &&
      std::to_string(v) == value)
    number.emplace_back(std::move(key), v);
  else
    text.emplace_back(std::move(key), std::string(value));
}

bool AnnotationTable::record(const vt_chunk_header& chunk, const vt_record& rec,
                             const RecordStrings& strings) {
  switch (rec.type) {
    case VT_REC_SPAN_BEGIN:
    case VT_REC_SPAN_END:
    case VT_REC_MARK:
    case VT_REC_COUNTER:
      break;
    default:
      return false;
  }
  Event e{rec.type, rec.aux, rec.ts, events_.size(), chunk.pid, chunk.tid, chunk.image, 0, {}, {}};
  if (rec.type == VT_REC_COUNTER) {
    vt_counter c;
    if (!record_payload(rec, c)) return true;
    e.value = c.value;
  }
  if (rec.type != VT_REC_SPAN_END) e.name = strings.get(VT_STR_NAME);
  e.args = strings.get(VT_STR_ARGS);
  events_.push_back(std::move(e));
  return true;
}

void AnnotationTable::resolve(const ProcessAt& process_at, TraceModel& model) const {
  std::vector<const Event*> events;
  events.reserve(events_.size());
  std::uint64_t last_ts = 0;
  for (const Event& e : events_) {
    events.push_back(&e);
    last_ts = std::max(last_ts, e.ts);
  }
  // Time order; arrival order among equal times (a stream's own order).
  std::stable_sort(events.begin(), events.end(),
                   [](const Event* a, const Event* b) { return a->ts < b->ts; });

  AnnotationCounts& counts = model.annotations;
  auto add_span = [&](const Event& begin, std::uint64_t end, const Event* end_event) {
    const Process* p = process_at(begin.pid, begin.ts);
    Span s;
    s.pid = p ? p->json_pid : begin.pid;
    s.tid = begin.tid;
    s.name = begin.name;
    add_args(begin.args, s.text_args, s.number_args);
    if (end_event) add_args(end_event->args, s.text_args, s.number_args);
    std::optional<Bounds> b = bounds_of(p, begin.tid, begin.ts);
    s.unfinished = !end_event;
    if (s.unfinished) end = b ? b->end : last_ts;
    s.start = begin.ts;
    s.end = std::max(end, s.start);
    if (b) {
      s.start = std::clamp(s.start, b->start, b->end);
      s.end = std::clamp(s.end, s.start, b->end);
    }
    if (s.unfinished) ++counts.unfinished_spans;
    model.spans.push_back(std::move(s));
  };

  using ThreadKey = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;  // pid, tid, image
  std::map<ThreadKey, std::vector<const Event*>> open;  // per thread: spans begun, innermost last
  std::map<std::string, Counter> counters;
  for (const Event* e : events) {
    switch (e->type) {
      case VT_REC_SPAN_BEGIN:
        open[{e->pid, e->tid, e->image}].push_back(e);
        break;
      case VT_REC_SPAN_END: {
        std::vector<const Event*>& stack = open[{e->pid, e->tid, e->image}];
        if (stack.empty()) {
          ++counts.unmatched_span_ends;
          break;
        }
        add_span(*stack.back(), e->ts, e);
        stack.pop_back();
        break;
      }
      case VT_REC_MARK: {
        const Process* p = process_at(e->pid, e->ts);
        Instant in;
        in.ts = e->ts;
        in.pid = p ? p->json_pid : e->pid;
        in.tid = e->tid;
        in.global = (e->aux & VT_MARK_GLOBAL) != 0;
        in.category = "mark";
        in.name = e->name;
        add_args(e->args, in.text_args, in.number_args);
        model.instants.push_back(std::move(in));
        ++counts.marks;
        break;
      }
      case VT_REC_COUNTER: {
        if (!std::isfinite(e->value)) break;  // JSON has no NaN or infinity
        Counter& c = counters[e->name];
        c.name = e->name;
        c.samples.emplace_back(e->ts, e->value);
        ++counts.counter_samples;
        break;
      }
      default:
        break;
    }
  }
  for (auto& [key, stack] : open)
    for (const Event* begin : stack) add_span(*begin, 0, nullptr);
  counts.spans = model.spans.size();

  std::stable_sort(model.spans.begin(), model.spans.end(), [](const Span& a, const Span& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  for (auto& [name, c] : counters) model.counters.push_back(std::move(c));
}

}  // namespace viztrace::report
