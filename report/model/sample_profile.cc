#include "report/model/sample_profile.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "report/model/symbolizer.h"
#include "report/model/unwinder.h"
#include "spill/sample_file.h"
#include "spill/spill_reader.h"

namespace viztrace::report {
namespace {

// The file, mapped read-only.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT) throw system_error("cannot open " + path);
      return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<std::size_t>(st.st_size);
      void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) data_ = static_cast<const unsigned char*>(m);
      else size_ = 0;
    }
    exists_ = true;
    close(fd);
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  bool exists() const { return exists_; }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  bool exists_ = false;
};

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Every record of the file after its header, in file order.
template <class F>
void for_each_record(const MappedFile& file, F&& f) {
  std::size_t off = sizeof(spill::SampleFileHeader);
  while (off + sizeof(perf_event_header) <= file.size()) {
    auto h = load<perf_event_header>(file.data() + off);
    if (h.size < sizeof h || h.size > file.size() - off) break;  // cut off by a full disk
    f(h, file.data() + off);
    off += h.size;
  }
}

// Records other than samples end with sample_id: pid, tid, time.
std::uint64_t trailer_time(const perf_event_header& h, const unsigned char* p) {
  return load<std::uint64_t>(p + h.size - 8);
}

// x86-64: the sample's registers (AX BX CX DX SI DI BP SP IP R8-R15, the order of the perf
// register numbers) in DWARF order (rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip).
constexpr std::size_t kSampleRegs = VT_SAMPLE_REGS;
// What the shim's timer samples copy of the stack at most: what a chunk leaves for it.
constexpr std::uint32_t kTimerStackBytes =
    (VT_CHUNK_MAX - sizeof(vt_chunk_header) - sizeof(vt_record) - sizeof(vt_sample)) & ~7u;
constexpr std::size_t kDwarfFromPerf[kSampleRegs] = {0, 3, 2, 1, 4, 5, 6, 7, 9,
                                                      10, 11, 12, 13, 14, 15, 16, 8};

struct ImageKey {
  std::uint32_t pid, era;
  bool operator==(const ImageKey&) const = default;
};
struct ImageKeyHash {
  std::size_t operator()(const ImageKey& k) const {
    return (std::uint64_t{k.pid} << 32 | k.era) * 0x9E3779B97F4A7C15ull;
  }
};

struct TimedMapping {
  std::uint64_t ts;
  Mapping mapping;
};

// One process image: its files, its unwinder, and the frame each address was found to be.
struct Image {
  std::vector<TimedMapping> mappings;
  std::unique_ptr<Unwinder> unwinder;
  // By address: the frames there, outermost first (the function, then what is inlined in it).
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> frames;
};

class Profile {
 public:
  Profile(const MappedFile& file, Timeline& tl) : file_(file), tl_(tl) {}

  void read_side_records() {
    struct Fork {
      std::uint32_t pid, ppid;
      std::uint64_t ts;
    };
    std::vector<Fork> forks;
    std::vector<std::pair<ImageKey, TimedMapping>> mapped;
    // Exec times first: which image a record is of follows from them.
    for_each_record(file_, [&](const perf_event_header& h, const unsigned char* p) {
      if (h.type == PERF_RECORD_COMM && (h.misc & PERF_RECORD_MISC_COMM_EXEC))
        execs_[load<std::uint32_t>(p + 8)].push_back(trailer_time(h, p));
    });
    for (auto& [pid, times] : execs_) std::sort(times.begin(), times.end());
    for_each_record(file_, [&](const perf_event_header& h, const unsigned char* p) {
      if (h.type == PERF_RECORD_COMM) {
        const char* name = reinterpret_cast<const char*>(p + 16);
        comm_[load<std::uint32_t>(p + 12)] = std::string(name, strnlen(name, h.size - 16));
      } else if (h.type == PERF_RECORD_FORK) {
        auto pid = load<std::uint32_t>(p + 8), ppid = load<std::uint32_t>(p + 12);
        if (pid != ppid) forks.push_back({pid, ppid, load<std::uint64_t>(p + 24)});
      } else if (h.type == PERF_RECORD_MMAP2 && h.size > 72) {
        auto pid = load<std::uint32_t>(p + 8);
        std::uint64_t addr = load<std::uint64_t>(p + 16), len = load<std::uint64_t>(p + 24),
                      pgoff = load<std::uint64_t>(p + 32);
        auto prot = load<std::uint32_t>(p + 64);
        const char* name = reinterpret_cast<const char*>(p + 72);
        std::string path(name, strnlen(name, h.size - 72));
        // Files only, and only their code: a deleted file cannot be read any more.
        if (!(prot & PROT_EXEC) || path.empty() || path[0] != '/' ||
            path.ends_with(" (deleted)"))
          return;
        std::uint64_t ts = trailer_time(h, p);
        Mapping m{addr, addr + len, 0, path};
        if (!segments_.bias(path, addr, pgoff, m.bias)) m.bias = addr - pgoff;
        mapped.push_back({{pid, era(pid, ts)}, {ts, std::move(m)}});
      }
    });
    for (auto& [key, m] : mapped) images_[key].mappings.push_back(std::move(m));
    // A fork child has its parent's files until it execs.
    std::sort(forks.begin(), forks.end(), [](const Fork& a, const Fork& b) { return a.ts < b.ts; });
    for (const Fork& f : forks) {
      auto parent = images_.find({f.ppid, era(f.ppid, f.ts)});
      if (parent == images_.end()) continue;
      std::vector<TimedMapping> inherited;
      for (const TimedMapping& m : parent->second.mappings)
        if (m.ts <= f.ts) inherited.push_back({0, m.mapping});
      Image& child = images_[{f.pid, era(f.pid, f.ts)}];
      child.mappings.insert(child.mappings.begin(), inherited.begin(), inherited.end());
    }
  }

  void index_processes() {
    for (std::size_t i = 0; i < tl_.processes.size(); ++i)
      by_pid_[tl_.processes[i].pid].push_back(i);
  }

  void read_samples(bool sample_type_ok) {
    index_processes();
    std::uint64_t regs[kSampleRegs];
    for_each_record(file_, [&](const perf_event_header& h, const unsigned char* p) {
      if (h.type == PERF_RECORD_LOST) {
        lost_in_file_ += load<std::uint64_t>(p + 16);
        return;
      }
      if (h.type != spill::kRecordStackDelta || !sample_type_ok) return;
      // pid, tid, time, period, abi, regs, StackDelta, its low and high bytes.
      constexpr std::size_t kRegsAt = 40;
      constexpr std::size_t kDeltaAt = kRegsAt + kSampleRegs * 8;
      if (h.size < kDeltaAt + sizeof(spill::StackDelta)) return;
      auto pid = load<std::uint32_t>(p + 8), tid = load<std::uint32_t>(p + 12);
      auto ts = load<std::uint64_t>(p + 16), period = load<std::uint64_t>(p + 24);
      for (std::size_t r = 0; r < kSampleRegs; ++r)
        regs[r] = load<std::uint64_t>(p + kRegsAt + 8 * kDwarfFromPerf[r]);
      const std::uint64_t sp = regs[7];
      const auto d = load<spill::StackDelta>(p + kDeltaAt);
      auto padded = [](std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; };
      const std::size_t low_at = kDeltaAt + sizeof d, high_at = low_at + padded(d.low);
      if (high_at + padded(d.high) > h.size) return;
      // The stack: its low bytes, what it shares with the thread's previous one, its high bytes.
      Stack& prev = stacks_[std::uint64_t{pid} << 32 | tid];
      Stack now;
      now.sp = sp;
      now.bytes.assign(p + low_at, p + low_at + d.low);
      const std::uint64_t from = sp + d.low;
      if (d.reused > 0) {
        if (from >= prev.sp && from - prev.sp + d.reused <= prev.bytes.size()) {
          const unsigned char* shared = prev.bytes.data() + (from - prev.sp);
          now.bytes.insert(now.bytes.end(), shared, shared + d.reused);
          now.bytes.insert(now.bytes.end(), p + high_at, p + high_at + d.high);
        }  // else the previous sample is not in the file (cut off): the stack ends here
      } else {
        now.bytes.insert(now.bytes.end(), p + high_at, p + high_at + d.high);
      }
      prev = std::move(now);
      add_sample(pid, tid, ts, period, regs, prev.bytes.data(), prev.bytes.size(),
                 [&]() -> Image& { return image_of(pid, ts); });
    });
    sort_samples();
  }

  // The samples the shim's timers took (VT_REC_SAMPLE records in the spill), with the modules
  // each image announced.
  void read_spilled_samples(const std::string& spill_dir, const ModuleMap& modules) {
    index_processes();
    std::uint64_t regs[kSampleRegs];
    spill::SpillReader(spill_dir).for_each([&](const vt_chunk_header& chunk) {
      if (chunk.kind != VT_KIND_RECORDS || (chunk.flags & VT_CHUNK_COLLECTOR)) return;
      const auto* p = reinterpret_cast<const unsigned char*>(&chunk) + sizeof chunk;
      std::size_t left = chunk.length - sizeof chunk;
      while (left >= sizeof(vt_record)) {
        const auto rec = load<vt_record>(p);
        if (rec.size < sizeof rec || rec.size > left) return;
        if (rec.type == VT_REC_SAMPLE && rec.size >= sizeof rec + sizeof(vt_sample)) {
          const auto s = load<vt_sample>(p + sizeof rec);
          const std::size_t room = rec.size - sizeof rec - sizeof s;
          for (std::size_t r = 0; r < kSampleRegs; ++r) regs[r] = s.regs[r];
          tl_.sampling.lost += rec.aux;
          add_sample(chunk.pid, chunk.tid, rec.ts, s.period_ns, regs, p + sizeof rec + sizeof s,
                     std::min<std::size_t>(s.stack_bytes, room), [&]() -> Image& {
                       return announced_image(chunk.pid, chunk.image, modules);
                     });
        }
        p += rec.size;
        left -= rec.size;
      }
    });
    sort_samples();
  }

  std::uint64_t lost_in_file() const { return lost_in_file_; }

 private:
  template <class ImageOf>
  void add_sample(std::uint32_t pid, std::uint32_t tid, std::uint64_t ts, std::uint64_t period,
                  const std::uint64_t* regs, const unsigned char* stack, std::size_t stack_size,
                  ImageOf&& image_of) {
    TimelineThread* thread = thread_of(pid, tid, ts);
    if (thread == nullptr) {
      ++tl_.sampling.unplaced;
      return;
    }
    Image& image = image_of();
    UnwindResult r = image.unwinder->unwind(static_cast<pid_t>(tid), regs, kSampleRegs, stack,
                                            stack_size, pcs_);
    if (!r.complete) ++tl_.sampling.cut_short;
    if (r.copy_too_small) ++tl_.sampling.copy_too_small;
    std::uint32_t node = 0;
    for (auto pc = pcs_.rbegin(); pc != pcs_.rend(); ++pc)
      for (std::uint32_t frame : frames_at(image, *pc)) node = tl_.intern_stack(node, frame);
    thread->samples.push_back({ts, node, period});
    ++tl_.sampling.samples;
  }

  void sort_samples() {
    for (TimelineProcess& p : tl_.processes)
      for (TimelineThread& t : p.threads)
        std::stable_sort(t.samples.begin(), t.samples.end(),
                         [](const TimelineSample& a, const TimelineSample& b) { return a.ts < b.ts; });
  }

  // An image by the modules it announced (its code, executable ranges and biases).
  Image& announced_image(std::uint32_t pid, std::uint32_t nonce, const ModuleMap& modules) {
    Image& image = announced_[ImageKey{pid, nonce}];
    if (!image.unwinder) {
      image.unwinder = std::make_unique<Unwinder>();
      auto it = modules.find(image_key(pid, nonce));
      if (it != modules.end())
        for (const Module& m : it->second.modules)
          image.unwinder->add({m.low, m.high, m.bias, m.path});
    }
    return image;
  }

  // How many execs of pid came at or before ts.
  std::uint32_t era(std::uint32_t pid, std::uint64_t ts) const {
    auto it = execs_.find(pid);
    if (it == execs_.end()) return 0;
    return static_cast<std::uint32_t>(
        std::upper_bound(it->second.begin(), it->second.end(), ts) - it->second.begin());
  }

  Image& image_of(std::uint32_t pid, std::uint64_t ts) {
    Image& image = images_[{pid, era(pid, ts)}];
    if (!image.unwinder) {
      image.unwinder = std::make_unique<Unwinder>();
      for (const TimedMapping& m : image.mappings) image.unwinder->add(m.mapping);
    }
    return image;
  }

  const std::vector<std::uint32_t>& frames_at(Image& image, std::uint64_t pc) {
    auto [it, fresh] = image.frames.try_emplace(pc);
    if (!fresh) return it->second;
    TimelineFrame frame;
    const Mapping* m = image.unwinder->find(pc);
    if (m == nullptr) {
      frame.name = tl_.intern("[unknown]");
    } else {
      const Symbol& sym = symbols_.lookup(m->path, pc - m->bias);
      frame.name = tl_.intern(sym.name);
      frame.module = tl_.intern(m->path);
      if (sym.resolved) {
        // The function's own position, not the sampled line: one frame per function.
        const Symbol& start = symbols_.lookup(m->path, sym.start);
        if (!start.file.empty()) {
          frame.file = tl_.intern(start.file);
          frame.line = start.line;
        }
      }
    }
    it->second.push_back(tl_.intern_frame(frame));
    if (m != nullptr) {
      const std::vector<InlinedFunction>& inlined = symbols_.inlined(m->path, pc - m->bias);
      for (auto f = inlined.rbegin(); f != inlined.rend(); ++f) {
        TimelineFrame in;
        in.name = tl_.intern(f->name);
        in.module = frame.module;
        if (!f->file.empty()) {
          in.file = tl_.intern(f->file);
          in.line = f->line;
        }
        in.inlined = true;
        it->second.push_back(tl_.intern_frame(in));
      }
    }
    return it->second;
  }

  // The thread of the process image that held pid at ts, made when only samples knew of it.
  TimelineThread* thread_of(std::uint32_t pid, std::uint32_t tid, std::uint64_t ts) {
    auto candidates = by_pid_.find(pid);
    if (candidates == by_pid_.end()) return nullptr;
    TimelineProcess* best = nullptr;
    for (std::size_t i : candidates->second) {
      TimelineProcess& p = tl_.processes[i];
      if (p.start <= ts && (best == nullptr || p.start >= best->start)) best = &p;
    }
    if (best == nullptr) best = &tl_.processes[candidates->second.front()];
    for (TimelineThread& t : best->threads)
      if (t.tid == tid) return &t;
    TimelineThread t;
    t.tid = tid;
    auto comm = comm_.find(tid);
    t.name = comm != comm_.end() ? comm->second : "";
    best->threads.push_back(std::move(t));
    return &best->threads.back();
  }

  const MappedFile& file_;
  Timeline& tl_;
  ElfSegments segments_;
  Symbolizer symbols_;
  std::unordered_map<std::uint32_t, std::vector<std::uint64_t>> execs_;  // by pid, sorted
  std::unordered_map<std::uint32_t, std::string> comm_;                  // by tid, the last
  std::unordered_map<ImageKey, Image, ImageKeyHash> images_;
  std::unordered_map<ImageKey, Image, ImageKeyHash> announced_;  // by pid and image nonce
  std::vector<std::uint64_t> pcs_;
  // Each thread's last stack, by pid << 32 | tid: the next sample's shares its top.
  struct Stack {
    std::uint64_t sp = 0;
    std::vector<unsigned char> bytes;
  };
  std::unordered_map<std::uint64_t, Stack> stacks_;
  std::unordered_map<std::uint32_t, std::vector<std::size_t>> by_pid_;  // into tl_.processes
  std::uint64_t lost_in_file_ = 0;
};

// The sampling's counts in the metadata, its losses with the others.
void sampling_metadata(Timeline& tl) {
  const SamplingInfo& s = tl.sampling;
  if (!s.requested) return;
  auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  Args args;
  args.push_back(s.method.empty() ? Arg::null_of("method") : Arg::of("method", s.method));
  if (!s.why_not.empty()) args.push_back(Arg::of("why_not", s.why_not));
  args.push_back(Arg::of("hz", n(s.hz)));
  args.push_back(Arg::of("user_time_only", s.user_time_only));
  args.push_back(Arg::of("stack_bytes", n(s.stack_bytes)));
  args.push_back(Arg::of("samples", n(s.samples)));
  args.push_back(Arg::of("lost", n(s.lost)));
  args.push_back(Arg::of("cut_short", n(s.cut_short)));
  args.push_back(Arg::of("copy_too_small", n(s.copy_too_small)));
  args.push_back(Arg::of("unplaced", n(s.unplaced)));
  args.push_back(Arg::of("bytes", n(s.bytes)));
  tl.metadata.push_back(Arg::dict_of("sampling", std::move(args)));
  for (Arg& a : tl.metadata)
    if (a.key == "lost" && a.kind == Arg::Kind::dict) a.items.push_back(Arg::of("samples", n(s.lost)));
  tl.lost += s.lost;
}

void read_sample_file(const std::string& spill_dir, const vt_stats* stats,
                      const ModuleMap& modules, Timeline& tl) {
  const std::string path = spill_dir + "/" + spill::kSampleFileName;
  MappedFile file(path);
  if (!file.exists()) return;
  SamplingInfo& info = tl.sampling;
  info.requested = true;
  spill::SampleFileHeader header;
  if (file.size() < sizeof header) {
    info.why_not = "the sample file is empty";
    return;
  }
  std::memcpy(&header, file.data(), sizeof header);

  if (header.magic != spill::kSampleFileMagic || header.version != spill::kSampleFileVersion)
    throw Error(path + ": sampled stacks of another version (" + std::to_string(header.version) +
                "; this viztrace reads version " + std::to_string(spill::kSampleFileVersion) +
                ")");
  info.hz = header.hz;
  info.stack_bytes = header.stack_bytes;
  info.bytes = file.size();
  if (header.method == spill::SampleMethod::none) {
    info.why_not = std::string(header.why, strnlen(header.why, sizeof header.why));
    return;
  }
  if (header.method == spill::SampleMethod::timer) {
    info.method = "timer";
    info.why_not = std::string(header.why, strnlen(header.why, sizeof header.why));
    info.stack_bytes = kTimerStackBytes;
    Profile profile(file, tl);
    profile.read_spilled_samples(spill_dir, modules);
    return;
  }
  info.method = "perf_event";
  info.user_time_only = header.user_only != 0;
  constexpr std::uint64_t kExpected = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD |
                                      PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
  const bool readable = header.sample_type == kExpected && header.machine == EM_X86_64 &&
                        __builtin_popcountll(header.regs_mask) == kSampleRegs;
  Profile profile(file, tl);
  profile.read_side_records();
  profile.read_samples(readable);
  info.lost = stats ? stats->samples_lost : profile.lost_in_file();
}

}  // namespace

void add_samples(const std::string& spill_dir, const vt_stats* stats, const ModuleMap& modules,
                 Timeline& tl) {
  read_sample_file(spill_dir, stats, modules, tl);
  sampling_metadata(tl);
}

std::vector<SampledFunction> sampled_functions(const Timeline& tl, const TimelineProcess* process,
                                               std::uint64_t* samples, std::uint64_t* weight) {
  // Samples by stack first: each distinct stack is walked once, however many samples it has.
  struct Tally {
    std::uint64_t count = 0, weight = 0;
  };
  std::vector<Tally> by_stack(tl.stack_nodes.size());
  std::uint64_t count = 0, ns = 0;
  auto add = [&](const TimelineProcess& p) {
    for (const TimelineThread& t : p.threads)
      for (const TimelineSample& s : t.samples) {
        ++count;
        ns += s.weight_ns;
        if (s.stack >= by_stack.size()) continue;
        by_stack[s.stack].count++;
        by_stack[s.stack].weight += s.weight_ns;
      }
  };
  if (process) add(*process);
  else
    for (const TimelineProcess& p : tl.processes) add(p);
  if (samples) *samples = count;
  if (weight) *weight = ns;

  std::unordered_map<std::uint32_t, SampledFunction> by_frame;
  std::unordered_set<std::uint32_t> seen;
  for (std::uint32_t stack = 1; stack < by_stack.size(); ++stack) {
    const Tally& n = by_stack[stack];
    if (n.count == 0) continue;
    seen.clear();
    bool leaf = true;
    for (std::uint32_t node = stack; node != 0; node = tl.stack_nodes[node].parent) {
      std::uint32_t frame = tl.stack_nodes[node].frame;
      SampledFunction& f = by_frame[frame];
      f.frame = frame;
      if (leaf) {
        f.self += n.count;
        f.self_weight += n.weight;
      }
      leaf = false;
      if (seen.insert(frame).second) {  // recursion counts once
        f.total += n.count;
        f.total_weight += n.weight;
      }
    }
  }
  std::vector<SampledFunction> out;
  out.reserve(by_frame.size());
  for (auto& [frame, f] : by_frame) out.push_back(f);
  return out;
}

std::vector<SampledFunction> top_sampled_functions(const Timeline& tl,
                                                   const TimelineProcess* process, std::size_t n,
                                                   std::uint64_t* samples) {
  std::vector<SampledFunction> out = sampled_functions(tl, process, samples);
  std::erase_if(out, [](const SampledFunction& f) { return f.self == 0; });
  auto more = [&](const SampledFunction& a, const SampledFunction& b) {
    if (a.self != b.self) return a.self > b.self;
    if (a.total != b.total) return a.total > b.total;
    return tl.names[tl.frames[a.frame].name] < tl.names[tl.frames[b.frame].name];
  };
  std::size_t shown = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(shown), out.end(),
                    more);
  out.resize(shown);
  return out;
}

std::string frame_module(const Timeline& tl, const TimelineFrame& frame) {
  if (frame.module == 0) return "";
  const std::string& path = tl.names[frame.module];
  return path.substr(path.rfind('/') + 1);
}

std::string frame_source(const Timeline& tl, const TimelineFrame& frame) {
  if (frame.file == 0) return "";
  const std::string& path = tl.names[frame.file];
  return path.substr(path.rfind('/') + 1) + ":" + std::to_string(frame.line);
}

}  // namespace viztrace::report
