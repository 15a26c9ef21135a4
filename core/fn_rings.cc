#include "core/fn_rings.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "core/chunk_builder.h"
#include "spdlog/spdlog.h"
#include "spill/fn_pack.h"
#include "spill/spill_format.h"

namespace viztrace {
namespace {

// An idle ring's process is looked up this often (in drain passes) to retire rings of the dead.
constexpr std::uint64_t kIdleCheck = 64;

bool process_gone(std::uint32_t pid) {
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// The ring of a thread whose process is gone: takes the records it wrote after it last
// published (see vt_fn_ring.produced). Slots past `produced` hold either those, or zeros, or
// records of the previous lap, which are older than the last published one.
void settle(vt_fn_ring* h, const vt_fn_record* records, std::uint64_t capacity) {
  const std::uint64_t mask = capacity - 1;
  const std::uint64_t published = h->produced, consumed = h->consumed;
  const std::uint64_t backed = std::min<std::uint64_t>(h->backed, capacity);
  std::uint64_t last = published > 0 ? records[(published - 1) & mask].ts & ~VT_FN_EXIT : 0;
  std::uint64_t k = published;
  while (k - published < VT_FN_PUBLISH_EVERY - 1 && k - consumed < capacity &&
         (backed == capacity || k < backed)) {
    const std::uint64_t ts = records[k & mask].ts & ~VT_FN_EXIT;
    if (ts == 0 || ts < last) break;
    last = ts;
    ++k;
  }
  h->produced = k;
}

}  // namespace

std::string FnRings::file_name(std::uint32_t pid, std::uint32_t tid, std::uint32_t image) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "fn-%u-%u-%x", pid, tid, image);
  return buf;
}

FnRings::~FnRings() {
  for (Ring& r : rings_)
    if (r.header) munmap(r.header, r.bytes);
}

bool FnRings::map(Ring& ring) {
  int fd = openat(dir_fd_, ring.name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  void* p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::size_t>(st.st_size) > VT_FN_RING_HEADER)
    p = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
             0);
  close(fd);
  if (p == MAP_FAILED) return false;
  auto* h = static_cast<vt_fn_ring*>(p);
  const std::uint64_t cap = h->capacity;
  const bool ok = h->magic == VT_FN_RING_MAGIC && h->version == VT_WIRE_VERSION && cap != 0 &&
                  (cap & (cap - 1)) == 0 &&
                  VT_FN_RING_HEADER + cap * sizeof(vt_fn_record) ==
                      static_cast<std::uint64_t>(st.st_size);
  if (!ok) {
    munmap(p, static_cast<std::size_t>(st.st_size));
    return false;
  }
  ring.header = h;
  ring.records =
      reinterpret_cast<const vt_fn_record*>(static_cast<const char*>(p) + VT_FN_RING_HEADER);
  ring.bytes = static_cast<std::size_t>(st.st_size);
  ring.capacity = cap;  // as checked: the thread could scribble over its header later
  return true;
}

void FnRings::add(std::uint32_t name_pid, std::uint32_t name_tid, std::uint32_t image,
                  std::uint32_t pid, std::uint32_t tid) {
  std::string name = file_name(name_pid, name_tid, image);
  for (const Ring& r : rings_)
    if (r.name == name) return;
  Ring ring;
  ring.name = std::move(name);
  ring.pid = pid;
  ring.tid = tid;
  ++stats_.rings;
  if (!map(ring)) {
    ++stats_.bad_rings;
    spdlog::debug("cannot use function ring {}", ring.name);
    unlinkat(dir_fd_, ring.name.c_str(), 0);
    return;
  }
  rings_.push_back(std::move(ring));
}

std::uint64_t FnRings::drain_one(Ring& ring) {
  vt_fn_ring* h = ring.header;
  const std::uint64_t cap = ring.capacity;
  std::uint64_t produced = __atomic_load_n(&h->produced, __ATOMIC_ACQUIRE);
  std::uint64_t consumed = h->consumed;
  std::uint64_t dropped = __atomic_load_n(&h->dropped, __ATOMIC_RELAXED);
  std::uint64_t new_dropped = dropped - ring.dropped_seen;
  ring.dropped_seen = dropped;
  const std::uint64_t no_space = __atomic_load_n(&h->no_space, __ATOMIC_RELAXED);
  stats_.no_space += no_space - ring.no_space_seen;
  ring.no_space_seen = no_space;
  // Slots the file has no space for are never read: on tmpfs, a read of a hole takes a page,
  // and a full filesystem has none to give (SIGBUS).
  const std::uint64_t backed = __atomic_load_n(&h->backed, __ATOMIC_ACQUIRE);
  if (backed < cap && produced > backed) {
    new_dropped += produced - std::max(backed, consumed);
    produced = std::max(backed, consumed);
  }
  if (produced <= consumed && new_dropped == 0) return 0;
  if (produced - consumed > cap) {  // overwritten before we came: counted, never misread
    new_dropped += produced - consumed - cap;
    consumed = produced - cap;
  }
  stats_.dropped += new_dropped;
  const std::uint64_t moved = produced > consumed ? produced - consumed : 0;
  // Packed (spill/fn_pack.h): ~3 bytes a record instead of 16 for the kernel to copy. At 2 bytes
  // or more a record, a chunk's count always fits nrec.
  static_assert((VT_CHUNK_MAX - sizeof(vt_chunk_header)) / 2 <= UINT16_MAX);
  alignas(8) unsigned char chunk[VT_CHUNK_MAX];
  do {  // at least one chunk, so that drops are told even without records
    vt_chunk_header c = {};
    spill::FnPacker packer(chunk + sizeof c, sizeof chunk - sizeof c);
    while (consumed < produced && packer.add(ring.records[consumed & (cap - 1)])) ++consumed;
    const std::size_t body = packer.finish();
    c.magic = VT_WIRE_MAGIC;
    c.version = VT_WIRE_VERSION;
    c.kind = VT_KIND_FUNCTIONS_PACKED;
    c.length = static_cast<std::uint16_t>(sizeof c + body);
    c.pid = ring.pid ? ring.pid : h->pid;
    c.tid = ring.pid ? ring.tid : h->tid;
    c.image = h->image;
    c.seq = ring.seq++;
    c.nrec = static_cast<std::uint16_t>(packer.records());
    c.reserved = static_cast<std::uint8_t>(h->clock);
    c.dropped = static_cast<std::uint32_t>(std::min<std::uint64_t>(new_dropped, UINT32_MAX));
    new_dropped = 0;
    std::memcpy(chunk, &c, sizeof c);
    spill_.append(chunk, c.length);
  } while (consumed < produced);
  // On disk before the ring slots are given back: a killed viztrace leaves them to `recover`.
  spill_.flush();
  __atomic_store_n(&h->consumed, consumed, __ATOMIC_RELEASE);
  stats_.records += moved;
  return moved;
}

void FnRings::retire(Ring& ring) {
  if (!__atomic_load_n(&ring.header->closed, __ATOMIC_ACQUIRE) &&
      process_gone(ring.pid ? ring.pid : ring.header->pid))
    settle(ring.header, ring.records, ring.capacity);
  drain_one(ring);
  stats_.waited_ns += ring.header->waited_ns;
  munmap(ring.header, ring.bytes);
  ring.header = nullptr;
  unlinkat(dir_fd_, ring.name.c_str(), 0);
}

std::uint64_t FnRings::drain() {
  std::uint64_t moved = 0;
  for (std::size_t i = 0; i < rings_.size();) {
    Ring& r = rings_[i];
    std::uint64_t n = drain_one(r);
    moved += n;
    bool gone = false;
    if (__atomic_load_n(&r.header->closed, __ATOMIC_ACQUIRE)) {
      gone = true;
    } else if (n == 0 && ++r.idle_since % kIdleCheck == 0) {
      gone = process_gone(r.pid ? r.pid : r.header->pid);
    } else if (n != 0) {
      r.idle_since = 0;
    }
    if (gone) {
      retire(r);
      rings_[i] = std::move(rings_.back());
      rings_.pop_back();
    } else {
      ++i;
    }
  }
  return moved;
}

void FnRings::finish() {
  // Rings made but never announced (the thread was killed in between) are read too.
  if (int fd = openat(dir_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    if (DIR* d = fdopendir(fd)) {
      std::vector<std::string> names;
      while (dirent* e = readdir(d))
        if (std::string_view(e->d_name).starts_with("fn-")) names.emplace_back(e->d_name);
      closedir(d);
      for (const std::string& name : names) {
        bool known = false;
        for (const Ring& r : rings_) known = known || r.name == name;
        if (known) continue;
        Ring ring;
        ring.name = name;
        ++stats_.rings;
        if (map(ring)) rings_.push_back(std::move(ring));
        else unlinkat(dir_fd_, name.c_str(), 0);
      }
    } else {
      close(fd);
    }
  }
  for (Ring& r : rings_) retire(r);
  rings_.clear();
}

namespace {

// A dir that is not this process's session: new segments need no cleanup registration.
class RescueDir final : public spill::SegmentDir {
 public:
  explicit RescueDir(int fd) : fd_(fd) {}
  int fd() const override { return fd_; }
  void set_segments(std::uint32_t) override {}

 private:
  int fd_;
};

}  // namespace

std::uint64_t rescue_rings(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  bool any = false;
  if (DIR* d = fdopendir(dup(fd))) {
    while (dirent* e = readdir(d)) any = any || std::string_view(e->d_name).starts_with("fn-");
    closedir(d);
  }
  std::uint64_t records = 0;
  if (any) {
    std::uint32_t segments = 0;
    struct stat st;
    while (fstatat(fd, spill::segment_name(segments).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      ++segments;
    RescueDir target(fd);
    spill::SpillWriter spill(target, segments);
    std::uint64_t tsc = 0, mono = 0;
    if (sample_tsc(tsc, mono)) {
      ChunkBuilder own(static_cast<std::uint32_t>(getpid()), static_cast<std::uint32_t>(getpid()),
                       static_cast<std::uint32_t>(mono) | 1u, VT_CHUNK_COLLECTOR);
      own.record(VT_REC_CLOCK, 0, mono, vt_clock{tsc});
      for (auto& chunk : own.take()) spill.append(chunk.data(), chunk.size());
    }
    FnRings rings(fd, spill);
    rings.finish();
    spill.flush();
    records = rings.stats().records;
    spdlog::debug("rescued {} function records from {}", records, dir);
  }
  close(fd);
  return records;
}

bool sample_tsc(std::uint64_t& tsc, std::uint64_t& monotonic_ns) {
#if defined(__x86_64__)
  std::uint64_t before = __rdtsc();
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::uint64_t after = __rdtsc();
  tsc = before + (after - before) / 2;
  monotonic_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
                 static_cast<std::uint64_t>(ts.tv_nsec);
  return true;
#else
  (void)tsc;
  (void)monotonic_ns;
  return false;
#endif
}

bool tsc_usable() {
#if defined(__x86_64__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("flags")) continue;
    auto has = [&](std::string_view flag) {
      std::string padded = " " + std::string(flag) + " ";
      return (line + " ").find(padded) != std::string::npos;
    };
    return has("constant_tsc") && has("nonstop_tsc");
  }
#endif
  return false;
}

}  // namespace viztrace
