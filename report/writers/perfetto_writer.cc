#include "report/writers/perfetto_writer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/error.h"

namespace viztrace::report {
namespace {

// Field numbers, from Perfetto's protos/perfetto/trace/ (checked against trace_packet.proto,
// track_event/*.proto, interned_data.proto, clock_snapshot.proto, trace_packet_defaults.proto,
// profiling/profile_common.proto, profiling/profile_packet.proto).
namespace trace {
constexpr std::uint32_t kPacket = 1;
}
namespace packet {
constexpr std::uint32_t kClockSnapshot = 6, kTimestamp = 8, kSequenceId = 10, kTrackEvent = 11,
                        kInternedData = 12, kSequenceFlags = 13, kDefaults = 59,
                        kTrackDescriptor = 60, kPerfSample = 66, kFirstOnSequence = 87;
constexpr std::uint32_t kIncrementalStateCleared = 1;
}  // namespace packet
namespace defaults {
constexpr std::uint32_t kTimestampClockId = 58, kTrackEventDefaults = 11, kTrackUuid = 11;
}
namespace clock {
constexpr std::uint32_t kClocks = 1, kPrimaryTraceClock = 2;          // ClockSnapshot
constexpr std::uint32_t kId = 1, kTimestamp = 2, kIsIncremental = 3;  // ClockSnapshot.Clock
constexpr std::uint32_t kRealtime = 1, kMonotonic = 3;                // BuiltinClocks
constexpr std::uint32_t kSequenceScoped = 64;  // the first id a sequence may define itself
}  // namespace clock
namespace track {
constexpr std::uint32_t kUuid = 1, kName = 2, kProcess = 3, kThread = 4, kParentUuid = 5,
                        kCounter = 8;
constexpr std::uint32_t kPid = 1, kProcessName = 6;                 // ProcessDescriptor
constexpr std::uint32_t kThreadPid = 1, kTid = 2, kThreadName = 5;  // ThreadDescriptor
}  // namespace track
namespace event {
constexpr std::uint32_t kCategoryIids = 3, kDebugAnnotations = 4, kType = 9, kNameIid = 10,
                        kTrackUuid = 11, kCounterValue = 30, kSourceLocationIid = 34,
                        kDoubleCounterValue = 44;
}
namespace interned {
constexpr std::uint32_t kEventCategories = 1, kEventNames = 2, kSourceLocations = 4, kIid = 1,
                        kName = 2;
constexpr std::uint32_t kFunctionNames = 5, kFrames = 6, kCallstacks = 7, kMappingPaths = 17,
                        kSourcePaths = 18, kMappings = 19;
}  // namespace interned
namespace profile {
constexpr std::uint32_t kIid = 1;            // of every interned profile message
constexpr std::uint32_t kString = 2;         // InternedString.str
constexpr std::uint32_t kPathStringIds = 7;  // Mapping
// Frame
constexpr std::uint32_t kFunctionNameId = 2, kMappingId = 3, kRelPc = 4, kSourcePathIid = 5,
                        kLineNumber = 6;
constexpr std::uint32_t kFrameIds = 2;  // Callstack, the outermost frame first
constexpr std::uint32_t kPid = 2, kTid = 3, kCallstackIid = 4;  // PerfSample
}  // namespace profile
namespace source_location {
constexpr std::uint32_t kIid = 1, kFileName = 2, kLineNumber = 4;
}
namespace annotation {
constexpr std::uint32_t kBool = 2, kInt = 4, kDouble = 5, kString = 6, kName = 10,
                        kDictEntries = 11, kArrayValues = 12;
}

constexpr std::size_t kFlushBytes = 1u << 20;
// A sequence of fewer events is smaller with absolute times (no clock snapshot).
constexpr std::size_t kIncrementalFrom = 12;

// Calls f with each part of a path between slashes ("/usr/lib/x.so": "usr", "lib", "x.so"), as
// a Mapping's path_string_ids list them.
template <class F>
void for_each_path_part(std::string_view path, F f) {
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    if (slash != 0) f(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
}

// A thread's slices and instants as BEGIN/END/INSTANT events in time order. Slices are sorted
// and nested (Timeline::normalize): a slice ends before the next one starts unless it encloses it.
void write_thread_events(PerfettoWriter& w, PerfettoWriter::Sequence seq, const Timeline& tl,
                         const TimelineThread& t) {
  std::vector<std::uint64_t> open;  // ends of the open slices, innermost last
  std::size_t si = 0, ii = 0;
  const std::uint64_t kNever = UINT64_MAX;
  while (si < t.slices.size() || ii < t.instants.size() || !open.empty()) {
    std::uint64_t end = open.empty() ? kNever : open.back();
    std::uint64_t begin = si < t.slices.size() ? t.slices[si].start : kNever;
    std::uint64_t instant = ii < t.instants.size() ? t.instants[ii].ts : kNever;
    if (!open.empty() && end <= begin && end <= instant) {
      w.slice_end(seq, end);
      open.pop_back();
    } else if (begin <= instant) {
      const TimelineSlice& s = t.slices[si++];
      w.begin_event(seq, s.start, PerfettoWriter::kSliceBegin, tl.names[s.name], 0,
                    perfetto_category(s.kind), s.name);
      // The session slice carries the trace's metadata, as it stands once the Timeline is
      // whole (the sampling's counts come after the slice was made).
      for (const Arg& a : s.kind == SliceKind::session ? tl.metadata : s.args) w.arg(a);
      w.end_event();
      open.push_back(s.end);
    } else {
      const TimelineInstant& in = t.instants[ii++];
      w.begin_event(seq, in.ts, PerfettoWriter::kInstant, tl.names[in.name], 0, {}, in.name);
      for (const Arg& a : in.args) w.arg(a);
      w.end_event();
    }
  }
}

}  // namespace

PerfettoWriter::PerfettoWriter(ByteSink& sink)
    : sink_(sink), enc_(kFlushBytes + (kFlushBytes >> 2)) {}

PerfettoWriter::SequenceState& PerfettoWriter::state(Sequence seq) {
  if (seq == 0 || seq > sequences_.size()) throw std::logic_error("PerfettoWriter: bad sequence");
  return sequences_[seq - 1];
}

void PerfettoWriter::begin(std::uint64_t monotonic_ns, std::uint64_t realtime_ns) {
  origin_ = monotonic_ns;
  // The trace's own clock is CLOCK_MONOTONIC; REALTIME beside it gives the wall-clock time.
  sequences_.emplace_back();
  begin_packet(static_cast<Sequence>(sequences_.size()));
  enc_.begin_nested(packet::kClockSnapshot);
  enc_.begin_nested(clock::kClocks);
  enc_.varint_field(clock::kId, clock::kMonotonic);
  enc_.varint_field(clock::kTimestamp, monotonic_ns);
  enc_.end_nested();
  if (realtime_ns) {
    enc_.begin_nested(clock::kClocks);
    enc_.varint_field(clock::kId, clock::kRealtime);
    enc_.varint_field(clock::kTimestamp, realtime_ns);
    enc_.end_nested();
  }
  enc_.varint_field(clock::kPrimaryTraceClock, clock::kMonotonic);
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::finish() {
  if (enc_.size() == 0) return;
  std::size_t n = enc_.size();
  enc_.clear();  // before write(): a throwing sink must not see these bytes again
  sink_.write(enc_.data(), n);
  flushed_ += n;
}

PerfettoWriter::Sequence PerfettoWriter::new_sequence(std::uint64_t default_track,
                                                      Encoding encoding) {
  sequences_.emplace_back();
  auto seq = static_cast<Sequence>(sequences_.size());
  SequenceState& s = sequences_.back();
  s.default_track = default_track;
  s.incremental = encoding == Encoding::incremental;
  s.last_ts = origin_;
  const std::uint32_t clock_id = s.incremental ? clock::kSequenceScoped : clock::kMonotonic;
  begin_packet(seq);
  enc_.varint_field(packet::kSequenceFlags, packet::kIncrementalStateCleared);
  enc_.varint_field(packet::kFirstOnSequence, 1);
  enc_.begin_nested(packet::kDefaults);
  enc_.varint_field(defaults::kTimestampClockId, clock_id);
  if (default_track) {
    enc_.begin_nested(defaults::kTrackEventDefaults);
    enc_.varint_field(defaults::kTrackUuid, default_track);
    enc_.end_nested();
  }
  enc_.end_nested();
  if (s.incremental) {
    // The sequence's clock counts from origin in steps of 1 ns. Every sequence anchors at the
    // same origin, so the trace clock's snapshots never go backwards.
    enc_.begin_nested(packet::kClockSnapshot);
    enc_.begin_nested(clock::kClocks);
    enc_.varint_field(clock::kId, clock_id);
    enc_.varint_field(clock::kTimestamp, origin_);
    enc_.varint_field(clock::kIsIncremental, 1);
    enc_.end_nested();
    enc_.begin_nested(clock::kClocks);
    enc_.varint_field(clock::kId, clock::kMonotonic);
    enc_.varint_field(clock::kTimestamp, origin_);
    enc_.end_nested();
    enc_.end_nested();
  }
  end_packet();
  return seq;
}

void PerfettoWriter::end_sequence(Sequence seq) {
  SequenceState& s = state(seq);
  decltype(s.names)().swap(s.names);
  decltype(s.categories)().swap(s.categories);
  decltype(s.iid_by_id)().swap(s.iid_by_id);
  decltype(s.source_iid_by_id)().swap(s.source_iid_by_id);
  s.last_category.clear();
  s.profile = ProfileState{};
}

std::uint64_t PerfettoWriter::intern(
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>>& map,
    std::string_view text, bool& fresh) {
  auto it = map.find(text);
  fresh = it == map.end();
  if (fresh) it = map.emplace(std::string(text), map.size() + 1).first;
  return it->second;
}

void PerfettoWriter::begin_packet(Sequence seq) {
  enc_.begin_nested(trace::kPacket);
  enc_.varint_field(packet::kSequenceId, seq);
}

void PerfettoWriter::end_packet() {
  enc_.end_nested();
  ++packets_;
  if (enc_.size() >= kFlushBytes) finish();
}

std::uint64_t PerfettoWriter::timestamp(SequenceState& s, std::uint64_t ts) {
  if (!s.incremental) return ts;
  if (ts < s.last_ts) ts = s.last_ts;  // out of order: at the last time written
  std::uint64_t delta = ts - s.last_ts;
  s.last_ts = ts;
  return delta;
}

void PerfettoWriter::descriptor_name(std::string_view name) {
  enc_.text_field(track::kName, name);
}

void PerfettoWriter::process_track(Sequence seq, std::uint64_t uuid, std::uint32_t pid,
                                   std::string_view name) {
  state(seq);
  begin_packet(seq);
  enc_.begin_nested(packet::kTrackDescriptor);
  enc_.varint_field(track::kUuid, uuid);
  enc_.begin_nested(track::kProcess);
  enc_.varint_field(track::kPid, pid);
  enc_.text_field(track::kProcessName, name);
  enc_.end_nested();
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::thread_track(Sequence seq, std::uint64_t uuid, std::uint64_t process_uuid,
                                  std::uint32_t pid, std::uint32_t tid, std::string_view name) {
  state(seq);
  begin_packet(seq);
  enc_.begin_nested(packet::kTrackDescriptor);
  enc_.varint_field(track::kUuid, uuid);
  if (process_uuid) enc_.varint_field(track::kParentUuid, process_uuid);
  enc_.begin_nested(track::kThread);
  enc_.varint_field(track::kThreadPid, pid);
  enc_.varint_field(track::kTid, tid);
  enc_.text_field(track::kThreadName, name);
  enc_.end_nested();
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::named_track(Sequence seq, std::uint64_t uuid, std::uint64_t parent_uuid,
                                 std::string_view name) {
  state(seq);
  begin_packet(seq);
  enc_.begin_nested(packet::kTrackDescriptor);
  enc_.varint_field(track::kUuid, uuid);
  if (parent_uuid) enc_.varint_field(track::kParentUuid, parent_uuid);
  descriptor_name(name);
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::counter_track(Sequence seq, std::uint64_t uuid, std::uint64_t parent_uuid,
                                   std::string_view name) {
  state(seq);
  begin_packet(seq);
  enc_.begin_nested(packet::kTrackDescriptor);
  enc_.varint_field(track::kUuid, uuid);
  if (parent_uuid) enc_.varint_field(track::kParentUuid, parent_uuid);
  descriptor_name(name);
  enc_.begin_nested(track::kCounter);
  enc_.end_nested();
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::begin_event(Sequence seq, std::uint64_t ts, EventType type,
                                 std::string_view name, std::uint64_t track,
                                 std::string_view category, std::uint32_t name_id,
                                 const SourceLocation* source) {
  if (context_depth_ != 0) throw std::logic_error("PerfettoWriter: event not ended");
  SequenceState& s = state(seq);
  const bool named = type != kSliceEnd && type != kCounter;
  bool fresh_name = false, fresh_category = false, fresh_source = false;
  std::uint64_t name_iid = 0, category_iid = 0, source_iid = 0;
  if (named && name_id != kNoId) {
    if (name_id >= s.iid_by_id.size()) s.iid_by_id.resize(name_id + 1 + name_id / 2, 0);
    std::uint32_t& iid = s.iid_by_id[name_id];
    if (iid == 0) iid = static_cast<std::uint32_t>(intern(s.names, name, fresh_name));
    name_iid = iid;
    if (source && !source->file.empty()) {
      if (name_id >= s.source_iid_by_id.size())
        s.source_iid_by_id.resize(name_id + 1 + name_id / 2, 0);
      std::uint32_t& siid = s.source_iid_by_id[name_id];
      if (siid == 0) siid = ++s.sources, fresh_source = true;
      source_iid = siid;
    }
  } else if (named) {
    name_iid = intern(s.names, name, fresh_name);
  }
  if (named && !category.empty()) {
    if (category == s.last_category) {
      category_iid = s.last_category_iid;  // the usual case: the same category again
    } else {
      category_iid = intern(s.categories, category, fresh_category);
      s.last_category = category;
      s.last_category_iid = category_iid;
    }
  }
  begin_packet(seq);
  enc_.varint_field(packet::kTimestamp, timestamp(s, ts));
  if (fresh_name || fresh_category || fresh_source) {  // first use on this sequence: once, here
    enc_.begin_nested(packet::kInternedData);
    if (fresh_category) {
      enc_.begin_nested(interned::kEventCategories);
      enc_.varint_field(interned::kIid, category_iid);
      enc_.text_field(interned::kName, category);
      enc_.end_nested();
    }
    if (fresh_name) {
      enc_.begin_nested(interned::kEventNames);
      enc_.varint_field(interned::kIid, name_iid);
      enc_.text_field(interned::kName, name);
      enc_.end_nested();
    }
    if (fresh_source) {
      enc_.begin_nested(interned::kSourceLocations);
      enc_.varint_field(source_location::kIid, source_iid);
      enc_.text_field(source_location::kFileName, source->file);
      enc_.varint_field(source_location::kLineNumber, source->line);
      enc_.end_nested();
    }
    enc_.end_nested();
  }
  enc_.begin_nested(packet::kTrackEvent);
  enc_.varint_field(event::kType, type);
  if (track && track != s.default_track) enc_.varint_field(event::kTrackUuid, track);
  if (name_iid) enc_.varint_field(event::kNameIid, name_iid);
  if (category_iid) enc_.varint_field(event::kCategoryIids, category_iid);
  if (source_iid) enc_.varint_field(event::kSourceLocationIid, source_iid);
  context_[0] = 'e';
  context_depth_ = 1;
}

void PerfettoWriter::end_event() {
  if (context_depth_ != 1) throw std::logic_error("PerfettoWriter: unbalanced args");
  context_depth_ = 0;
  enc_.end_nested();  // track_event
  end_packet();
}

void PerfettoWriter::counter(Sequence seq, std::uint64_t ts, double value, std::uint64_t track) {
  begin_event(seq, ts, kCounter, {}, track);
  if (std::nearbyint(value) == value && std::fabs(value) < 9.0e18)
    enc_.int_field(event::kCounterValue, static_cast<std::int64_t>(value));
  else
    enc_.double_field(event::kDoubleCounterValue, value);
  end_event();
}

void PerfettoWriter::sample(Sequence seq, std::uint64_t ts, std::uint32_t pid, std::uint32_t tid,
                            const Timeline& tl, std::uint32_t stack) {
  if (context_depth_ != 0) throw std::logic_error("PerfettoWriter: event not ended");
  if (stack >= tl.stack_nodes.size()) throw std::logic_error("PerfettoWriter: bad stack node");
  SequenceState& s = state(seq);
  ProfileState& p = s.profile;
  begin_packet(seq);
  enc_.varint_field(packet::kTimestamp, timestamp(s, ts));
  std::uint32_t callstack = 0;
  if (stack != 0) {
    if (p.callstacks.size() < tl.stack_nodes.size()) p.callstacks.resize(tl.stack_nodes.size());
    callstack = p.callstacks[stack];
    if (callstack == 0) {
      callstack = p.callstacks[stack] = ++p.callstack_count;
      intern_callstack(p, tl, stack, callstack);
    }
  }
  enc_.begin_nested(packet::kPerfSample);
  enc_.varint_field(profile::kPid, pid);
  enc_.varint_field(profile::kTid, tid);
  if (callstack) enc_.varint_field(profile::kCallstackIid, callstack);
  enc_.end_nested();
  end_packet();
}

void PerfettoWriter::intern_callstack(ProfileState& p, const Timeline& tl, std::uint32_t stack,
                                      std::uint32_t iid) {
  // Gives iids[index] the next iid of its kind unless it has one, and lists it as fresh.
  auto need = [](std::vector<std::uint32_t>& iids, std::size_t size, std::uint32_t index,
                 std::uint32_t& count, std::vector<std::uint32_t>& fresh) {
    if (iids.size() < size) iids.resize(size);
    if (iids[index] != 0) return false;
    iids[index] = ++count;
    fresh.push_back(index);
    return true;
  };
  chain_.clear();
  for (std::uint32_t node = stack; node != 0; node = tl.stack_nodes[node].parent)
    chain_.push_back(node);
  new_frames_.clear(), new_functions_.clear(), new_mappings_.clear(), new_sources_.clear();
  new_parts_.clear();
  for (std::uint32_t node : chain_) {
    const std::uint32_t f = tl.stack_nodes[node].frame;
    if (!need(p.frames, tl.frames.size(), f, p.frame_count, new_frames_)) continue;
    const TimelineFrame& frame = tl.frames[f];
    need(p.functions, tl.names.size(), frame.name, p.function_count, new_functions_);
    if (frame.file) need(p.sources, tl.names.size(), frame.file, p.source_count, new_sources_);
    if (!need(p.mappings, tl.names.size(), frame.module, p.mapping_count, new_mappings_) ||
        frame.module == 0)
      continue;
    // A new mapping: its path's parts, each interned once.
    for_each_path_part(tl.names[frame.module], [&](std::string_view part) {
      if (p.path_parts.count(part)) return;
      auto it = p.path_parts.emplace(std::string(part), p.path_parts.size() + 1).first;
      new_parts_.emplace_back(it->second, it->first);
    });
  }

  enc_.begin_nested(packet::kInternedData);
  for (std::uint32_t name : new_functions_) {
    enc_.begin_nested(interned::kFunctionNames);
    enc_.varint_field(profile::kIid, p.functions[name]);
    enc_.text_field(profile::kString, tl.names[name]);
    enc_.end_nested();
  }
  for (const auto& [part_iid, part] : new_parts_) {
    enc_.begin_nested(interned::kMappingPaths);
    enc_.varint_field(profile::kIid, part_iid);
    enc_.text_field(profile::kString, part);
    enc_.end_nested();
  }
  for (std::uint32_t file : new_sources_) {
    enc_.begin_nested(interned::kSourcePaths);
    enc_.varint_field(profile::kIid, p.sources[file]);
    enc_.text_field(profile::kString, tl.names[file]);
    enc_.end_nested();
  }
  for (std::uint32_t module : new_mappings_) {
    // No addresses: frames are functions, told apart by name (rel_pc 0).
    enc_.begin_nested(interned::kMappings);
    enc_.varint_field(profile::kIid, p.mappings[module]);
    if (module != 0)  // the unknown module: a mapping without path
      for_each_path_part(tl.names[module], [&](std::string_view part) {
        enc_.varint_field(profile::kPathStringIds, p.path_parts.find(part)->second);
      });
    enc_.end_nested();
  }
  for (std::uint32_t f : new_frames_) {
    const TimelineFrame& frame = tl.frames[f];
    enc_.begin_nested(interned::kFrames);
    enc_.varint_field(profile::kIid, p.frames[f]);
    enc_.varint_field(profile::kFunctionNameId, p.functions[frame.name]);
    enc_.varint_field(profile::kMappingId, p.mappings[frame.module]);
    enc_.varint_field(profile::kRelPc, 0);  // required with a mapping
    if (frame.file) {
      enc_.varint_field(profile::kSourcePathIid, p.sources[frame.file]);
      if (frame.line) enc_.varint_field(profile::kLineNumber, frame.line);
    }
    enc_.end_nested();
  }
  enc_.begin_nested(interned::kCallstacks);
  enc_.varint_field(profile::kIid, iid);
  for (auto node = chain_.rbegin(); node != chain_.rend(); ++node)  // outermost first
    enc_.varint_field(profile::kFrameIds, p.frames[tl.stack_nodes[*node].frame]);
  enc_.end_nested();
  enc_.end_nested();
}

void PerfettoWriter::begin_annotation(std::string_view key) {
  if (context_depth_ == 0) throw std::logic_error("PerfettoWriter: arg outside an event");
  char ctx = context_[context_depth_ - 1];
  enc_.begin_nested(ctx == 'e'   ? event::kDebugAnnotations
                    : ctx == 'd' ? annotation::kDictEntries
                                 : annotation::kArrayValues);
  if (ctx != 'a') enc_.text_field(annotation::kName, key);
}

void PerfettoWriter::arg(std::string_view key, std::string_view text) {
  begin_annotation(key);
  enc_.text_field(annotation::kString, text);
  enc_.end_nested();
}

void PerfettoWriter::arg(std::string_view key, std::int64_t v) {
  begin_annotation(key);
  enc_.int_field(annotation::kInt, v);
  enc_.end_nested();
}

void PerfettoWriter::arg(std::string_view key, bool v) {
  begin_annotation(key);
  enc_.varint_field(annotation::kBool, v);
  enc_.end_nested();
}

void PerfettoWriter::arg_real(std::string_view key, double v) {
  begin_annotation(key);
  enc_.double_field(annotation::kDouble, v);
  enc_.end_nested();
}

void PerfettoWriter::push_context(char c) {
  // The packet, the event and the annotation are open too.
  if (context_depth_ + 3 >= ProtoEncoder::kMaxDepth) throw Error("args nested too deeply");
  context_[context_depth_++] = c;
}

void PerfettoWriter::begin_dict_arg(std::string_view key) {
  begin_annotation(key);
  push_context('d');
}

void PerfettoWriter::begin_array_arg(std::string_view key) {
  begin_annotation(key);
  push_context('a');
}

void PerfettoWriter::end_arg() {
  if (context_depth_ < 2) throw std::logic_error("PerfettoWriter: unbalanced args");
  --context_depth_;
  enc_.end_nested();
}

void PerfettoWriter::arg(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::null:
      begin_annotation(a.key);  // a name without a value
      enc_.end_nested();
      break;
    case Arg::Kind::boolean:
      arg(a.key, a.integer != 0);
      break;
    case Arg::Kind::integer:
      arg(a.key, a.integer);
      break;
    case Arg::Kind::real:
    case Arg::Kind::fixed3:
      arg_real(a.key, a.number());
      break;
    case Arg::Kind::text:
      arg(a.key, std::string_view(a.text));
      break;
    case Arg::Kind::array:
    case Arg::Kind::dict:
      if (a.kind == Arg::Kind::array)
        begin_array_arg(a.key);
      else
        begin_dict_arg(a.key);
      for (const Arg& item : a.items) arg(item);
      end_arg();
      break;
  }
}

std::string_view perfetto_category(SliceKind kind) {
  return kind == SliceKind::function || kind == SliceKind::span ? "" : category_name(kind);
}

PerfettoTimelineWriter::PerfettoTimelineWriter(const Timeline& timeline, ByteSink& sink,
                                               PerfettoWriter::Encoding encoding)
    : tl_(timeline), w_(sink), encoding_(encoding) {}

void PerfettoTimelineWriter::write() {
  const Timeline& tl = tl_;
  PerfettoWriter& w = w_;
  w.begin(tl.origin, tl.realtime_ns);
  auto encoding_for = [&](std::size_t events) {
    return encoding_ == PerfettoWriter::Encoding::incremental && events >= kIncrementalFrom
               ? PerfettoWriter::Encoding::incremental
               : PerfettoWriter::Encoding::absolute;
  };
  auto thread_events = [](const TimelineThread& t) {
    return 2 * t.slices.size() + t.instants.size();
  };
  if (!tl.global.slices.empty() || !tl.global.instants.empty()) {
    std::uint64_t uuid = w.new_uuid();
    auto seq = w.new_sequence(uuid, encoding_for(thread_events(tl.global)));
    w.named_track(seq, uuid, 0, tl.global.name.empty() ? "viztrace" : tl.global.name);
    write_thread_events(w, seq, tl, tl.global);
    w.end_sequence(seq);
  }
  for (const TimelineCounter& c : tl.counters) {  // top-level tracks, one per name
    std::uint64_t uuid = w.new_uuid();
    auto seq = w.new_sequence(uuid, encoding_for(c.points.size()));
    w.counter_track(seq, uuid, 0, c.name);
    for (const auto& [ts, value] : c.points) w.counter(seq, ts, value);
    w.end_sequence(seq);
  }
  for (std::size_t pi = 0; pi < tl.processes.size(); ++pi) {
    const TimelineProcess& p = tl.processes[pi];
    // A fresh uuid per process: a reused pid is a new process track.
    std::uint64_t process_uuid = w.new_uuid();
    process_uuids_.push_back(process_uuid);
    bool described = false;
    for (const TimelineThread& t : p.threads) {
      std::uint64_t uuid = w.new_uuid();
      thread_uuids_.emplace(std::uint64_t{pi} << 32 | t.tid, uuid);
      auto seq = w.new_sequence(uuid, encoding_for(thread_events(t)));
      if (!described) w.process_track(seq, process_uuid, p.pid, p.name);
      described = true;
      w.thread_track(seq, uuid, process_uuid, p.pid, t.tid, t.name);
      write_thread_events(w, seq, tl, t);
      w.end_sequence(seq);
    }
    for (const TimelineCounter& c : p.counters) {
      std::uint64_t uuid = w.new_uuid();
      auto seq = w.new_sequence(uuid, encoding_for(c.points.size()));
      if (!described) w.process_track(seq, process_uuid, p.pid, p.name);
      described = true;
      w.counter_track(seq, uuid, process_uuid, c.name);
      for (const auto& [ts, value] : c.points) w.counter(seq, ts, value);
      w.end_sequence(seq);
    }
    if (!described) {
      auto seq = w.new_sequence(process_uuid, PerfettoWriter::Encoding::absolute);
      w.process_track(seq, process_uuid, p.pid, p.name);
    }
  }
  write_samples();
}

void PerfettoTimelineWriter::write_samples() {
  // A cursor per thread with samples, the earliest first: one sequence in time order.
  struct Cursor {
    std::uint64_t ts;
    const TimelineProcess* process;
    const TimelineThread* thread;
    std::size_t next;
    bool operator>(const Cursor& o) const { return ts > o.ts; }
  };
  std::vector<Cursor> heap;
  std::uint64_t count = 0;
  for (const TimelineProcess& p : tl_.processes)
    for (const TimelineThread& t : p.threads)
      if (!t.samples.empty()) {
        heap.push_back({t.samples.front().ts, &p, &t, 0});
        count += t.samples.size();
      }
  if (heap.empty()) return;
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  const bool incremental =
      encoding_ == PerfettoWriter::Encoding::incremental && count >= kIncrementalFrom;
  auto seq = w_.new_sequence(
      0, incremental ? PerfettoWriter::Encoding::incremental : PerfettoWriter::Encoding::absolute);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    Cursor& c = heap.back();
    const TimelineSample& s = c.thread->samples[c.next];
    w_.sample(seq, std::max(s.ts, tl_.origin), c.process->pid, c.thread->tid, tl_, s.stack);
    if (++c.next == c.thread->samples.size()) {
      heap.pop_back();
    } else {
      c.ts = c.thread->samples[c.next].ts;
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  }
  w_.end_sequence(seq);
}

PerfettoWriter::Sequence PerfettoTimelineWriter::thread_sequence(std::size_t process,
                                                                 std::uint32_t tid) {
  if (process >= process_uuids_.size())
    throw std::logic_error("PerfettoTimelineWriter: process not written");
  auto [it, fresh] = thread_uuids_.emplace(std::uint64_t{process} << 32 | tid, 0);
  if (fresh) it->second = w_.new_uuid();
  auto seq = w_.new_sequence(it->second, PerfettoWriter::Encoding::incremental);
  if (fresh) {
    const TimelineProcess& p = tl_.processes[process];
    w_.thread_track(seq, it->second, process_uuids_[process], p.pid, tid,
                    "thread " + std::to_string(tid));
  }
  return seq;
}

std::uint64_t PerfettoTimelineWriter::finish() {
  w_.finish();
  return w_.bytes();
}

namespace {

class PerfettoTraceWriter final : public TraceWriter, FunctionEvents {
 public:
  explicit PerfettoTraceWriter(ByteSink& sink) : sink_(sink) {}

  void begin(const Timeline& trace, const FunctionPass* names) override {
    names_ = names;
    origin_ = trace.origin;
    by_json_pid_ = processes_by_json_pid(trace);
    out_.emplace(trace, sink_);
    out_->write();
  }
  FunctionEvents* call_events() override { return this; }
  void finish() override { out_->finish(); }

  // FunctionEvents: sequence 0 stands for a thread of no known process, whose calls are dropped.
  std::uint32_t thread(std::uint32_t pid, std::uint32_t tid) override {
    auto it = by_json_pid_.find(pid);
    return it == by_json_pid_.end() ? 0 : out_->thread_sequence(it->second, tid);
  }
  void begin(std::uint32_t seq, std::uint64_t ts, std::uint32_t name) override {
    if (seq == 0) return;
    const PerfettoWriter::SourceLocation source{names_->source_file(name),
                                                names_->source_line(name)};
    PerfettoWriter& w = out_->writer();
    w.begin_event(seq, std::max(ts, origin_), PerfettoWriter::kSliceBegin, names_->name(name), 0,
                  {}, name, &source);
    w.end_event();
  }
  void end(std::uint32_t seq, std::uint64_t ts, bool unfinished) override {
    if (seq == 0) return;
    PerfettoWriter& w = out_->writer();
    w.begin_event(seq, std::max(ts, origin_), PerfettoWriter::kSliceEnd, {});
    if (unfinished) w.arg("unfinished", true);
    w.end_event();
  }

 private:
  ByteSink& sink_;
  const FunctionPass* names_ = nullptr;
  std::uint64_t origin_ = 0;
  std::unordered_map<std::uint32_t, std::size_t> by_json_pid_;
  std::optional<PerfettoTimelineWriter> out_;
};

}  // namespace

std::unique_ptr<TraceWriter> make_perfetto_writer(ByteSink& sink) {
  return std::make_unique<PerfettoTraceWriter>(sink);
}

std::uint64_t write_perfetto(const Timeline& tl, ByteSink& sink,
                             PerfettoWriter::Encoding encoding) {
  PerfettoTimelineWriter w(tl, sink, encoding);
  w.write();
  return w.finish();
}

}  // namespace viztrace::report
