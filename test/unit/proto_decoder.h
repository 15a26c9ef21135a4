// Test support: a small protobuf wire-format decoder, and a reader of .pftrace files that sees
// what Perfetto's trace processor would see of the packets viztrace writes (track descriptors,
// track events, interned names, sequence flags, defaults and incremental clocks, perf samples
// with their interned callstacks, frames and mappings). It checks the rules the writer must
// keep and lists every violation in DecodedTrace::problems.
// Shared by the unit and the integration tests; standard C++ only.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace viztrace::test {

struct ProtoField {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;   // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  std::uint64_t value = 0;  // varint and fixed values
  std::string_view bytes;   // length-delimited
};

inline std::uint64_t read_varint(const char*& p, const char* end) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p == end) throw std::runtime_error("varint cut short");
    auto b = static_cast<unsigned char>(*p++);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint too long");
}

// The fields of one message, in order. Throws std::runtime_error when malformed.
inline std::vector<ProtoField> decode_message(std::string_view msg) {
  std::vector<ProtoField> out;
  const char* p = msg.data();
  const char* end = p + msg.size();
  while (p < end) {
    ProtoField f;
    std::uint64_t key = read_varint(p, end);
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.wire = static_cast<std::uint32_t>(key & 7);
    if (f.number == 0) throw std::runtime_error("field number 0");
    if (f.wire == 0) {
      f.value = read_varint(p, end);
    } else if (f.wire == 1 || f.wire == 5) {
      std::size_t n = f.wire == 1 ? 8 : 4;
      if (static_cast<std::size_t>(end - p) < n) throw std::runtime_error("fixed cut short");
      for (std::size_t i = 0; i < n; ++i)
        f.value |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
      p += n;
    } else if (f.wire == 2) {
      std::uint64_t n = read_varint(p, end);
      if (n > static_cast<std::uint64_t>(end - p)) throw std::runtime_error("length beyond end");
      f.bytes = std::string_view(p, n);
      p += n;
    } else {
      throw std::runtime_error("unsupported wire type " + std::to_string(f.wire));
    }
    out.push_back(f);
  }
  return out;
}

struct DecodedTrack {
  enum class Kind { process, thread, named, counter };
  Kind kind = Kind::named;
  std::uint64_t uuid = 0, parent = 0;
  std::int64_t pid = 0, tid = 0;
  std::string name;
  std::uint32_t seq = 0;
};

struct DecodedEvent {
  std::uint32_t seq = 0;
  std::uint64_t ts = 0;  // absolute, on the trace clock
  std::uint32_t type = 0;
  std::uint64_t track = 0;
  std::string name, category;
  std::string source;                       // "file:line" of an interned source location
  std::map<std::string, std::string> args;  // flattened: "argv[0]", "lost.seq_gaps"
  double counter = 0;
};

// A frame of a sampled stack, resolved as trace processor does.
struct DecodedFrame {
  std::string name;
  std::string mapping;  // the mapping's path parts, each after a '/'; "" without path
  std::string source;   // "file:line", "file" without line, "" without source path
  bool operator==(const DecodedFrame&) const = default;
};

struct DecodedSample {
  std::uint32_t seq = 0;
  std::uint64_t ts = 0;  // absolute, on the trace clock
  std::int64_t pid = 0, tid = 0;
  std::uint64_t callstack = 0;       // iid; 0: none
  std::vector<DecodedFrame> frames;  // outermost first
};

struct DecodedTrace {
  std::vector<DecodedTrack> tracks;
  std::map<std::uint64_t, std::size_t> track_index;                     // uuid -> tracks[i]
  std::vector<DecodedEvent> events;                                     // in file order
  std::vector<DecodedSample> samples;                                   // in file order
  std::map<std::uint32_t, std::map<std::string, int>> interned_copies;  // seq -> name -> times
  // seq -> "function:NAME", "path:PART", "source:PATH", "mapping:PATH", "frame:NAME@MAPPING",
  // "callstack:IID" -> how many times it was interned
  std::map<std::uint32_t, std::map<std::string, int>> profile_copies;
  std::optional<std::uint32_t> primary_clock;
  std::uint64_t packets = 0;
  std::vector<std::string> problems;

  const DecodedTrack* track(std::uint64_t uuid) const {
    auto it = track_index.find(uuid);
    return it == track_index.end() ? nullptr : &tracks[it->second];
  }
};

namespace detail {

inline std::string real_text(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

inline double as_double(std::uint64_t bits) {
  double d;
  static_assert(sizeof d == sizeof bits);
  __builtin_memcpy(&d, &bits, 8);
  return d;
}

// DebugAnnotation -> flattened args.
inline void flatten(std::string_view msg, const std::string& prefix, bool in_array,
                    std::size_t index, std::map<std::string, std::string>& out) {
  std::string key = prefix;
  std::vector<ProtoField> fields = decode_message(msg);
  if (in_array) {
    key += "[" + std::to_string(index) + "]";
  } else {
    for (const ProtoField& f : fields)
      if (f.number == 10) key += (prefix.empty() ? "" : ".") + std::string(f.bytes);
  }
  std::size_t items = 0;
  bool value = false;
  for (const ProtoField& f : fields) {
    switch (f.number) {
      case 2:
        out[key] = f.value ? "true" : "false", value = true;
        break;
      case 3:
        out[key] = std::to_string(f.value), value = true;
        break;
      case 4:
        out[key] = std::to_string(static_cast<std::int64_t>(f.value)), value = true;
        break;
      case 5:
        out[key] = real_text(as_double(f.value)), value = true;
        break;
      case 6:
        out[key] = std::string(f.bytes), value = true;
        break;
      case 11:
        flatten(f.bytes, key, false, 0, out), value = true;
        break;
      case 12:
        flatten(f.bytes, key, true, items++, out), value = true;
        break;
      default:
        break;
    }
  }
  if (!value) out[key] = "";
}

}  // namespace detail

// Decodes a whole .pftrace. Malformed wire data is a problem (and ends the decoding).
inline DecodedTrace decode_pftrace(std::string_view file) {
  DecodedTrace t;
  struct Seq {
    bool cleared = false;
    std::uint64_t default_track = 0;
    std::uint32_t clock = 0;                 // from the defaults
    std::optional<std::uint64_t> clock_now;  // the incremental clock's value
    std::map<std::uint64_t, std::string> names, categories, sources;
    std::set<std::uint64_t> seen_tracks;
    std::uint64_t packets = 0;
    // Profile data: InternedString tables, mappings (iid -> path), frames, callstacks.
    std::map<std::uint64_t, std::string> functions, path_parts, source_paths, mappings;
    std::map<std::uint64_t, DecodedFrame> frames;
    std::map<std::uint64_t, std::vector<std::uint64_t>> callstacks;
  };
  std::map<std::uint32_t, Seq> seqs;
  auto problem = [&](std::string p) { t.problems.push_back(std::move(p)); };
  try {
    for (const ProtoField& pf : decode_message(file)) {
      if (pf.number != 1 || pf.wire != 2) {
        problem("Trace field other than packet: " + std::to_string(pf.number));
        continue;
      }
      ++t.packets;
      std::vector<ProtoField> fields = decode_message(pf.bytes);
      std::uint32_t seq_id = 0, flags = 0;
      std::optional<std::uint64_t> ts;
      for (const ProtoField& f : fields) {
        if (f.number == 10) seq_id = static_cast<std::uint32_t>(f.value);
        if (f.number == 13) flags = static_cast<std::uint32_t>(f.value);
        if (f.number == 8) ts = f.value;
      }
      if (seq_id == 0) problem("packet without trusted_packet_sequence_id");
      Seq& s = seqs[seq_id];
      ++s.packets;
      if (flags & 1) {
        s = Seq{};
        s.cleared = true;
        s.packets = 1;
      }
      for (const ProtoField& f : fields) {
        if (f.number == 59) {  // trace_packet_defaults
          for (const ProtoField& d : decode_message(f.bytes)) {
            if (d.number == 58) s.clock = static_cast<std::uint32_t>(d.value);
            if (d.number == 11)
              for (const ProtoField& e : decode_message(d.bytes))
                if (e.number == 11) s.default_track = e.value;
          }
        } else if (f.number == 6) {  // clock_snapshot
          std::optional<std::uint64_t> mono, seq_clock;
          bool incremental = false;
          for (const ProtoField& c : decode_message(f.bytes)) {
            if (c.number == 2) t.primary_clock = static_cast<std::uint32_t>(c.value);
            if (c.number != 1) continue;
            std::uint64_t id = 0, value = 0;
            bool inc = false;
            for (const ProtoField& x : decode_message(c.bytes)) {
              if (x.number == 1) id = x.value;
              if (x.number == 2) value = x.value;
              if (x.number == 3) inc = x.value != 0;
            }
            if (id == 3) mono = value;
            if (id >= 64 && id < 128) seq_clock = value, incremental = inc;
          }
          if (seq_clock) {
            if (!incremental) problem("sequence clock not incremental");
            if (!mono || *mono != *seq_clock) problem("sequence clock not tied to MONOTONIC");
            s.clock_now = seq_clock;
          }
        } else if (f.number == 12) {  // interned_data
          // Trace processor looks interned entries up when it needs them, so within a packet
          // the order does not matter: strings, then mappings, frames, callstacks.
          std::vector<ProtoField> entries = decode_message(f.bytes);
          auto rank = [](const ProtoField& i) {
            return i.number == 5 || i.number == 17 || i.number == 18 ? 0
                   : i.number == 19                                  ? 1
                   : i.number == 6                                   ? 2
                   : i.number == 7                                   ? 3
                                                                     : 4;
          };
          std::stable_sort(
              entries.begin(), entries.end(),
              [&](const ProtoField& a, const ProtoField& b) { return rank(a) < rank(b); });
          for (const ProtoField& i : entries) {
            auto define = [&](auto& table, std::uint64_t iid, const auto& value,
                              const std::string& what) {
              if (iid == 0) problem("profile entry with iid 0: " + what);
              if (table.count(iid) && !(table[iid] == value)) problem("iid redefined: " + what);
              table[iid] = value;
              ++t.profile_copies[seq_id][what];
            };
            if (i.number == 5 || i.number == 17 || i.number == 18) {  // InternedString
              std::uint64_t iid = 0;
              std::string str;
              for (const ProtoField& x : decode_message(i.bytes)) {
                if (x.number == 1) iid = x.value;
                if (x.number == 2) str = std::string(x.bytes);
              }
              auto& table = i.number == 5    ? s.functions
                            : i.number == 17 ? s.path_parts
                                             : s.source_paths;
              const char* kind = i.number == 5 ? "function:" : i.number == 17 ? "path:" : "source:";
              define(table, iid, str, kind + str);
              continue;
            }
            if (i.number == 19) {  // mappings
              std::uint64_t iid = 0;
              std::string path;
              for (const ProtoField& x : decode_message(i.bytes)) {
                if (x.number == 1) iid = x.value;
                if (x.number == 7) {
                  if (x.wire != 0) problem("path_string_ids not one varint each");
                  if (!s.path_parts.count(x.value)) problem("unknown mapping path iid");
                  path += "/" + s.path_parts[x.value];
                }
              }
              define(s.mappings, iid, path, "mapping:" + path);
              continue;
            }
            if (i.number == 6) {  // frames
              std::uint64_t iid = 0, mapping = 0;
              std::optional<std::uint64_t> line, rel_pc;
              std::string source;
              DecodedFrame fr;
              for (const ProtoField& x : decode_message(i.bytes)) {
                if (x.number == 1) iid = x.value;
                if (x.number == 2) {
                  if (!s.functions.count(x.value)) problem("unknown function name iid");
                  fr.name = s.functions[x.value];
                }
                if (x.number == 3) mapping = x.value;
                if (x.number == 4) rel_pc = x.value;
                if (x.number == 5) {
                  if (!s.source_paths.count(x.value)) problem("unknown source path iid");
                  source = s.source_paths[x.value];
                }
                if (x.number == 6) line = x.value;
              }
              // Trace processors before 2025 drop a frame without mapping, and with its
              // mapping a frame must give rel_pc.
              if (mapping == 0 || !s.mappings.count(mapping)) problem("frame without mapping");
              if (!rel_pc) problem("frame without rel_pc");
              fr.mapping = s.mappings[mapping];
              fr.source = source.empty() || !line ? source : source + ":" + std::to_string(*line);
              define(s.frames, iid, fr, "frame:" + fr.name + "@" + fr.mapping);
              continue;
            }
            if (i.number == 7) {  // callstacks
              std::uint64_t iid = 0;
              std::vector<std::uint64_t> frame_ids;
              for (const ProtoField& x : decode_message(i.bytes)) {
                if (x.number == 1) iid = x.value;
                if (x.number == 2) {
                  if (x.wire != 0) problem("frame_ids not one varint each");
                  if (!s.frames.count(x.value)) problem("callstack of an unknown frame");
                  frame_ids.push_back(x.value);
                }
              }
              if (frame_ids.empty()) problem("empty callstack");
              define(s.callstacks, iid, frame_ids, "callstack:" + std::to_string(iid));
              continue;
            }
            if (i.number == 4) {  // source_locations
              std::uint64_t iid = 0, line = 0;
              std::string path;
              for (const ProtoField& x : decode_message(i.bytes)) {
                if (x.number == 1) iid = x.value;
                if (x.number == 2) path = std::string(x.bytes);
                if (x.number == 4) line = x.value;
              }
              if (iid == 0) problem("source location with iid 0");
              const std::string where = path + ":" + std::to_string(line);
              if (s.sources.count(iid) && s.sources[iid] != where)
                problem("iid redefined: " + where);
              s.sources[iid] = where;
              continue;
            }
            if (i.number != 1 && i.number != 2) continue;  // event_categories, event_names
            auto& table = i.number == 1 ? s.categories : s.names;
            std::uint64_t iid = 0;
            std::string name;
            for (const ProtoField& x : decode_message(i.bytes)) {
              if (x.number == 1) iid = x.value;
              if (x.number == 2) name = std::string(x.bytes);
            }
            if (iid == 0) problem("interned string with iid 0");
            if (table.count(iid) && table[iid] != name) problem("iid redefined: " + name);
            table[iid] = name;
            ++t.interned_copies[seq_id][(i.number == 1 ? "category:" : "") + name];
          }
        } else if (f.number == 60) {  // track_descriptor
          DecodedTrack tr;
          tr.seq = seq_id;
          for (const ProtoField& x : decode_message(f.bytes)) {
            if (x.number == 1) tr.uuid = x.value;
            if (x.number == 5) tr.parent = x.value;
            if (x.number == 2) tr.name = std::string(x.bytes);
            if (x.number == 8) tr.kind = DecodedTrack::Kind::counter;
            if (x.number == 3 || x.number == 4) {
              tr.kind = x.number == 3 ? DecodedTrack::Kind::process : DecodedTrack::Kind::thread;
              for (const ProtoField& y : decode_message(x.bytes)) {
                if (y.number == 1) tr.pid = static_cast<std::int64_t>(y.value);
                if (x.number == 4 && y.number == 2) tr.tid = static_cast<std::int64_t>(y.value);
                if ((x.number == 3 && y.number == 6) || (x.number == 4 && y.number == 5))
                  tr.name = std::string(y.bytes);
              }
            }
          }
          if (tr.uuid == 0) problem("track descriptor without uuid");
          if (t.track_index.count(tr.uuid)) problem("track uuid described twice");
          if (tr.parent && !t.track_index.count(tr.parent)) problem("parent described after child");
          t.track_index[tr.uuid] = t.tracks.size();
          t.tracks.push_back(tr);
        }
      }
      // A track event's or a sample's time, on the trace clock.
      std::uint64_t packet_ts = 0;
      if (std::any_of(fields.begin(), fields.end(),
                      [](const ProtoField& f) { return f.number == 11 || f.number == 66; })) {
        if (!s.cleared) problem("event on a sequence whose state was never cleared");
        if (!ts) problem("event without timestamp");
        if (s.clock >= 64) {
          if (!s.clock_now) {
            problem("incremental clock without snapshot");
          } else {
            *s.clock_now += ts.value_or(0);
            packet_ts = *s.clock_now;
          }
        } else {
          if (s.clock != 3)
            problem("event clock is not CLOCK_MONOTONIC: " + std::to_string(s.clock));
          packet_ts = ts.value_or(0);
        }
      }
      for (const ProtoField& f : fields) {
        if (f.number != 66) continue;  // perf_sample
        DecodedSample sm;
        sm.seq = seq_id;
        sm.ts = packet_ts;
        for (const ProtoField& x : decode_message(f.bytes)) {
          if (x.number == 2) sm.pid = static_cast<std::int64_t>(x.value);
          if (x.number == 3) sm.tid = static_cast<std::int64_t>(x.value);
          if (x.number == 4) sm.callstack = x.value;
        }
        if (sm.callstack) {
          if (!s.callstacks.count(sm.callstack)) problem("unknown callstack iid");
          for (std::uint64_t frame : s.callstacks[sm.callstack])
            sm.frames.push_back(s.frames[frame]);
        }
        const bool described = std::any_of(t.tracks.begin(), t.tracks.end(), [&](const auto& tr) {
          return tr.kind == DecodedTrack::Kind::thread && tr.pid == sm.pid && tr.tid == sm.tid;
        });
        if (!described) problem("sample of a thread without track");
        t.samples.push_back(std::move(sm));
      }
      for (const ProtoField& f : fields) {
        if (f.number != 11) continue;  // track_event
        DecodedEvent e;
        e.seq = seq_id;
        e.ts = packet_ts;
        e.track = s.default_track;
        for (const ProtoField& x : decode_message(f.bytes)) {
          switch (x.number) {
            case 9:
              e.type = static_cast<std::uint32_t>(x.value);
              break;
            case 11:
              e.track = x.value;
              break;
            case 10:
              if (!s.names.count(x.value)) problem("unknown name iid " + std::to_string(x.value));
              e.name = s.names[x.value];
              break;
            case 23:
              e.name = std::string(x.bytes);
              break;
            case 34:
              if (!s.sources.count(x.value))
                problem("unknown source iid " + std::to_string(x.value));
              e.source = s.sources[x.value];
              break;
            case 22:
              e.category = std::string(x.bytes);
              break;
            case 3:
              if (!s.categories.count(x.value)) problem("unknown category iid");
              e.category = s.categories[x.value];
              break;
            case 4:
              detail::flatten(x.bytes, "", false, 0, e.args);
              break;
            case 30:
              e.counter = static_cast<double>(static_cast<std::int64_t>(x.value));
              break;
            case 44:
              e.counter = detail::as_double(x.value);
              break;
            default:
              break;
          }
        }
        if (!t.track_index.count(e.track)) problem("event before its track's descriptor");
        t.events.push_back(std::move(e));
      }
    }
  } catch (const std::exception& ex) {
    problem(std::string("malformed protobuf: ") + ex.what());
  }
  return t;
}

// A slice rebuilt from BEGIN/END events of one track.
struct DecodedSlice {
  std::uint64_t start = 0, end = 0;
  std::string name, category;
  std::map<std::string, std::string> args;
  int depth = 0;
};

// Per track uuid: its slices (BEGIN order) and instants; nesting problems go to problems. As
// Perfetto's trace processor does, each track's events are taken in time order (file order
// among equal times), whichever sequences wrote them; an END's args join its slice's.
struct TrackContent {
  std::vector<DecodedSlice> slices;
  std::vector<DecodedEvent> instants;
};
inline std::map<std::uint64_t, TrackContent> slices_by_track(const DecodedTrace& t,
                                                             std::vector<std::string>& problems) {
  std::map<std::uint64_t, std::vector<const DecodedEvent*>> by_track;
  std::map<std::uint32_t, std::uint64_t> last_ts;  // per sequence
  for (const DecodedEvent& e : t.events) {
    if (last_ts.count(e.seq) && e.ts < last_ts[e.seq])
      problems.push_back("time goes back on a sequence");
    last_ts[e.seq] = e.ts;
    by_track[e.track].push_back(&e);
  }
  std::map<std::uint64_t, TrackContent> out;
  for (auto& [track, events] : by_track) {
    std::stable_sort(events.begin(), events.end(),
                     [](const DecodedEvent* a, const DecodedEvent* b) { return a->ts < b->ts; });
    TrackContent& c = out[track];
    std::vector<std::size_t> open;
    for (const DecodedEvent* e : events) {
      if (e->type == 1) {
        open.push_back(c.slices.size());
        c.slices.push_back(DecodedSlice{e->ts, 0, e->name, e->category, e->args,
                                        static_cast<int>(open.size()) - 1});
      } else if (e->type == 2) {
        if (open.empty()) {
          problems.push_back("SLICE_END without an open slice");
          continue;
        }
        DecodedSlice& s = c.slices[open.back()];
        s.end = e->ts;
        for (const auto& [k, v] : e->args) s.args[k] = v;
        open.pop_back();
      } else if (e->type == 3) {
        c.instants.push_back(*e);
      }
    }
    if (!open.empty()) problems.push_back("slice never ended");
  }
  return out;
}

}  // namespace viztrace::test
