#include "core/sampler.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/error.h"
#include "core/launcher.h"
#include "spdlog/spdlog.h"
#include "spill/sample_file.h"

namespace viztrace {
namespace {

constexpr std::size_t kFlushBytes = 1 << 20;
constexpr std::uint64_t kFlushIntervalNs = 100'000'000;
constexpr std::uint32_t kWakeBytes = 128 << 10;
// Data pages per CPU, tried from the first down: 128 pages and the metadata page are the
// 516 KiB an unprivileged user may lock per CPU (kernel.perf_event_mlock_kb).
constexpr std::size_t kRingPages[] = {128, 64, 32, 16, 8};

#if defined(__x86_64__)
// AX BX CX DX SI DI BP SP IP, R8-R15 (arch/x86/include/uapi/asm/perf_regs.h): what CFI may name.
constexpr std::uint64_t kRegsMask = 0x1ffull | 0xffull << 16;
constexpr std::size_t kSpIndex = 7;  // of the registers a sample holds
constexpr std::uint32_t kMachine = EM_X86_64;
#else
constexpr std::uint64_t kRegsMask = 0;
constexpr std::size_t kSpIndex = 0;
constexpr std::uint32_t kMachine = 0;
#endif

constexpr std::uint64_t kSampleType =
    PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD | PERF_SAMPLE_REGS_USER |
    PERF_SAMPLE_STACK_USER;

int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu) {
  return static_cast<int>(syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

int paranoid_level() {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  int level = 0;
  return in >> level ? level : -100;
}

std::string refusal(int err) {
  std::string why = std::string("perf_event_open: ") + std::strerror(err);
  if (err == EACCES || err == EPERM) {
    int level = paranoid_level();
    if (level > 2)
      why += " (kernel.perf_event_paranoid is " + std::to_string(level) +
             "; at most 2 lets a user sample their own processes)";
    else
      why += " (a seccomp filter, as container runtimes install, may forbid it)";
  }
  return why;
}

std::size_t popcount(std::uint64_t v) { return static_cast<std::size_t>(__builtin_popcountll(v)); }

}  // namespace

Sampler::Sampler(int session_dir_fd, const SamplerOptions& options) {
  file_ = openat(session_dir_fd, spill::kSampleFileName, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                 0600);
  if (file_ < 0) throw system_error(std::string("cannot create ") + spill::kSampleFileName);
  spill::SampleFileHeader header;
  header.hz = options.hz;
  header.sample_type = kSampleType;
  header.regs_mask = kRegsMask;
  header.stack_bytes = options.stack_bytes;
  header.machine = kMachine;
  regs_ = popcount(kRegsMask);

  const long page = sysconf(_SC_PAGESIZE);
  const long cpus = sysconf(_SC_NPROCESSORS_CONF);
  perf_event_attr attr = {};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  // The task clock counts nanoseconds of CPU time: a fixed period is exact, and spares the
  // kernel the frequency adjustment it makes of every event at every tick.
  attr.freq = 0;
  attr.sample_period = 1'000'000'000ull / options.hz;
  attr.sample_type = kSampleType;
  attr.sample_regs_user = kRegsMask;
  attr.sample_stack_user = options.stack_bytes;
  attr.disabled = 1;
  attr.enable_on_exec = 1;
  attr.inherit = 1;
  attr.mmap = 1;
  attr.mmap2 = 1;
  attr.comm = 1;
  attr.comm_exec = 1;
  attr.task = 1;
  attr.sample_id_all = 1;
  attr.exclude_hv = 1;
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;
  // The collector is woken when a ring holds this much (it also drains them on its timer).
  attr.watermark = 1;
  attr.wakeup_watermark = kWakeBytes;
  // Time in system calls is sampled too (the user stack says who called) where the kernel
  // allows it; with perf_event_paranoid 2 only user time is.
  attr.exclude_kernel = 0;

  int err = 0;
  if (kMachine == 0) {
    reason_ = "sampling is supported on x86-64 only";
  } else if (options.method == SamplerOptions::Method::timer) {
    reason_ = "VIZTRACE_SAMPLE_METHOD=timer";
  } else {
    for (long cpu = 0; cpu < cpus; ++cpu) {
      int fd = perf_event_open(&attr, 0, static_cast<int>(cpu));
      if (fd < 0 && (errno == EACCES || errno == EPERM) && !attr.exclude_kernel) {
        attr.exclude_kernel = 1;
        fd = perf_event_open(&attr, 0, static_cast<int>(cpu));
      }
      if (fd < 0) {
        if (errno == ENODEV || errno == ENOENT) continue;  // an offline CPU
        err = errno;
        break;
      }
      cpus_.push_back({fd, nullptr});
    }
    if (err == 0 && cpus_.empty()) err = ENODEV;
  }
  if (err != 0) reason_ = refusal(err);
  // The rings: the largest size the locked-memory limit allows on every CPU.
  for (std::size_t pages : kRingPages) {
    if (!reason_.empty()) break;
    std::size_t mapped = 0;
    for (Cpu& c : cpus_) {
      void* m = mmap(nullptr, (pages + 1) * page, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
      if (m == MAP_FAILED) {
        err = errno;
        break;
      }
      c.map = static_cast<unsigned char*>(m);
      ++mapped;
    }
    if (mapped == cpus_.size()) {
      data_bytes_ = pages * page;
      break;
    }
    for (Cpu& c : cpus_)
      if (c.map) {
        munmap(c.map, (pages + 1) * page);
        c.map = nullptr;
      }
    if (pages == kRingPages[std::size(kRingPages) - 1])
      reason_ = std::string("cannot map the sample rings: ") + std::strerror(err);
  }
  if (!reason_.empty()) {
    for (Cpu& c : cpus_) close(c.fd);
    cpus_.clear();
    std::snprintf(header.why, sizeof header.why, "%s", reason_.c_str());
    timers_ = kMachine != 0 && options.method != SamplerOptions::Method::perf;
    if (timers_) header.method = spill::SampleMethod::timer;
    spdlog::debug("sampling: {}{}", reason_, timers_ ? "; the threads sample themselves" : "");
  } else {
    header.method = spill::SampleMethod::perf;
    header.user_only = attr.exclude_kernel;
    spdlog::debug("sampling at {} Hz on {} CPUs, {} KiB rings{}", options.hz, cpus_.size(),
                  data_bytes_ / 1024, attr.exclude_kernel ? ", user time only" : "");
  }
  write_out(&header, sizeof header);
  flush();
}

Sampler::~Sampler() { finish(); }

void Sampler::add_pollfds(std::vector<pollfd>& fds) const {
  for (const Cpu& c : cpus_) fds.push_back({c.fd, POLLIN, 0});
}

std::size_t Sampler::drain() {
  std::size_t moved = 0;
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t mask = data_bytes_ - 1;
  for (Cpu& c : cpus_) {
    auto* meta = reinterpret_cast<perf_event_mmap_page*>(c.map);
    const unsigned char* data = c.map + page;
    std::uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    std::uint64_t tail = meta->data_tail;
    while (tail < head) {
      std::size_t at = tail & mask;
      perf_event_header h;
      std::memcpy(&h, data + at, sizeof h);  // records are 8-aligned: a header never wraps
      if (h.size < sizeof h || h.size > head - tail) break;  // cannot be: the ring is unreadable
      if (at + h.size <= data_bytes_) {
        take(data + at, h.size);
      } else {
        record_.resize(h.size);
        std::size_t first = data_bytes_ - at;
        std::memcpy(record_.data(), data + at, first);
        std::memcpy(record_.data() + first, data, h.size - first);
        take(record_.data(), h.size);
      }
      tail += h.size;
      ++moved;
    }
    __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
  }
  // Written often enough that a killed viztrace leaves little unwritten for recover.
  std::uint64_t now = monotonic_ns();
  if (out_.size() >= kFlushBytes || (!out_.empty() && now - flushed_ns_ >= kFlushIntervalNs)) {
    flush();
    flushed_ns_ = now;
  }
  return moved;
}

void Sampler::take(const unsigned char* record, std::size_t size) {
  perf_event_header h;
  std::memcpy(&h, record, sizeof h);
  switch (h.type) {
    case PERF_RECORD_SAMPLE: {
      // tid, time, period, abi, regs, stack size, stack, dyn_size.
      std::size_t regs_at = sizeof h + 24;
      std::uint64_t abi = 0;
      if (size < regs_at + 8) return;
      std::memcpy(&abi, record + regs_at, 8);
      std::size_t stack_at = regs_at + 8 + (abi != PERF_SAMPLE_REGS_ABI_NONE ? regs_ * 8 : 0);
      std::uint64_t stack_size = 0;
      if (size < stack_at + 8) return;
      std::memcpy(&stack_size, record + stack_at, 8);
      std::uint64_t dyn = 0;
      if (stack_size > 0 && size >= stack_at + 16 + stack_size)
        std::memcpy(&dyn, record + stack_at + 8 + stack_size, 8);
      dyn = std::min(dyn, stack_size);
      if (abi == PERF_SAMPLE_REGS_ABI_NONE) return;  // no user registers: nothing to unwind
      if (file_failed_) {
        ++stats_.lost;
        return;
      }
      std::uint32_t pid = 0, tid = 0;
      std::memcpy(&pid, record + sizeof h, 4);
      std::memcpy(&tid, record + sizeof h + 4, 4);
      std::uint64_t sp = 0;
      std::memcpy(&sp, record + regs_at + 8 + 8 * kSpIndex, 8);
      write_stack_delta(h, record, stack_at, pid, tid, sp, record + stack_at + 8, dyn);
      ++stats_.samples;
      ++pending_samples_;
      return;
    }
    case PERF_RECORD_EXIT: {
      // A thread ended: its last stack is no use any more.
      std::uint32_t pid = 0, tid = 0;
      if (size >= sizeof h + 16) {
        std::memcpy(&pid, record + sizeof h, 4);
        std::memcpy(&tid, record + sizeof h + 8, 4);
        previous_.erase(std::uint64_t{pid} << 32 | tid);
      }
      return;
    }
    case PERF_RECORD_LOST: {
      std::uint64_t lost = 0;
      if (size >= sizeof h + 16) std::memcpy(&lost, record + sizeof h + 8, 8);
      stats_.lost += lost;
      if (!file_failed_) write_out(record, size);
      return;
    }
    case PERF_RECORD_FORK: {
      // A new process (not a thread): its files are its parent's until it execs.
      std::uint32_t pid = 0, ppid = 0;
      if (size >= sizeof h + 8) {
        std::memcpy(&pid, record + sizeof h, 4);
        std::memcpy(&ppid, record + sizeof h + 4, 4);
      }
      if (pid != ppid && !file_failed_) write_out(record, size);
      return;
    }
    case PERF_RECORD_MMAP2:
    case PERF_RECORD_COMM:
      if (!file_failed_) write_out(record, size);
      return;
    default:
      return;  // throttling and the like say nothing about stacks
  }
}

// The sample at record, its stack given as bytes from sp up: the bytes at the top that are the
// same, at the same addresses, as in the thread's previous sample are not written again.
void Sampler::write_stack_delta(const perf_event_header& h, const unsigned char* record,
                                std::size_t stack_at, std::uint32_t pid, std::uint32_t tid,
                                std::uint64_t sp, const unsigned char* stack, std::uint64_t bytes) {
  PreviousStack& prev = previous_[std::uint64_t{pid} << 32 | tid];
  spill::StackDelta d;
  d.low = static_cast<std::uint32_t>(bytes);
  const std::uint64_t end = sp + bytes, prev_end = prev.sp + prev.bytes.size();
  const std::uint64_t low = std::max(sp, prev.sp), top = std::min(end, prev_end);
  if (!prev.bytes.empty() && low + 8 <= top) {
    std::uint64_t at = top;
    while (at >= low + 8 &&
           std::memcmp(stack + (at - 8 - sp), prev.bytes.data() + (at - 8 - prev.sp), 8) == 0)
      at -= 8;
    if (at < top) {
      d.low = static_cast<std::uint32_t>(at - sp);
      d.reused = static_cast<std::uint32_t>(top - at);
      d.high = static_cast<std::uint32_t>(end - top);
    }
  }
  auto padded = [](std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; };
  perf_event_header out = h;
  out.type = spill::kRecordStackDelta;
  out.size = static_cast<std::uint16_t>(stack_at + sizeof d + padded(d.low) + padded(d.high));
  write_out(&out, sizeof out);
  write_out(record + sizeof h, stack_at - sizeof h);
  write_out(&d, sizeof d);
  write_out(stack, d.low);
  out_.resize(out_.size() + (padded(d.low) - d.low), 0);
  write_out(stack + (bytes - d.high), d.high);
  out_.resize(out_.size() + (padded(d.high) - d.high), 0);
  prev.sp = sp;
  prev.bytes.assign(stack, stack + bytes);
}

void Sampler::write_out(const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  out_.insert(out_.end(), p, p + size);
}

void Sampler::flush() {
  std::size_t off = 0;
  while (!file_failed_ && off < out_.size()) {
    ssize_t n = write(file_, out_.data() + off, out_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A full temp filesystem: what is not written is lost, and so is what comes after.
      spdlog::debug("sampling: cannot write {}: {}", spill::kSampleFileName, std::strerror(errno));
      file_failed_ = true;
      stats_.lost += pending_samples_;
      stats_.samples -= pending_samples_;
      // The file ends at a record's end: what was written of the last one is cut off.
      if (ftruncate(file_, static_cast<off_t>(stats_.bytes)) != 0) {
      }
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  if (!file_failed_) stats_.bytes += out_.size();
  out_.clear();
  pending_samples_ = 0;
}

void Sampler::finish() {
  if (file_ < 0) return;
  drain();
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  for (Cpu& c : cpus_) {
    ioctl(c.fd, PERF_EVENT_IOC_DISABLE, 0);
    munmap(c.map, data_bytes_ + page);
    close(c.fd);
  }
  cpus_.clear();
  flush();
  close(file_);
  file_ = -1;
}

}  // namespace viztrace
