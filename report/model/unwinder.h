// Unwinds sampled stacks (viztrace run --sample) after the run: the registers and the top of
// the user stack a sample copied, and the ELF files mapped in its process, give the chain of
// return addresses. DWARF call frame information (.eh_frame, .debug_frame, separate debug files)
// drives it, through libdw's unwinder with callbacks that read the copy; where a function has
// none, frame pointers are followed. Without libdw a stack is its first frame only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace viztrace::report {

// A file mapped with execute permission in a process.
struct Mapping {
  std::uint64_t start = 0, end = 0;
  std::uint64_t bias = 0;  // runtime address - link-time address
  std::string path;
};

// The load segments of the ELF files mappings name, each file read once: what a mapping's
// bias is follows from them.
class ElfSegments {
 public:
  // The bias of the file at path mapped at start from file offset pgoff; false when the file
  // cannot be read or has no such segment.
  bool bias(const std::string& path, std::uint64_t start, std::uint64_t pgoff,
            std::uint64_t& out);

 private:
  struct Segment {
    std::uint64_t offset, vaddr;  // page-aligned down
  };
  std::unordered_map<std::string, std::vector<Segment>> files_;
};

struct UnwindResult {
  bool complete = false;        // reached the outermost frame
  bool copy_too_small = false;  // stopped where the stack copy ended
};

// The mappings of one process image (a pid between two execs) and the unwinding state for it.
// Not thread-safe.
class Unwinder {
 public:
  Unwinder();
  ~Unwinder();
  Unwinder(const Unwinder&) = delete;
  Unwinder& operator=(const Unwinder&) = delete;

  // Mappings are added before the first unwind; a later one is used from then on.
  void add(const Mapping& mapping);
  // The mapping holding addr; null when none does.
  const Mapping* find(std::uint64_t addr) const;

  // Registers in DWARF order (x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip), the stack
  // copied from rsp. pcs gets the frames, innermost first: the first is the sampled address,
  // the others return addresses minus one (inside the call).
  UnwindResult unwind(pid_t tid, const std::uint64_t* regs, std::size_t nregs,
                      const unsigned char* stack, std::size_t stack_size,
                      std::vector<std::uint64_t>& pcs);

  static constexpr std::size_t kMaxFrames = 256;
  struct State;  // libdw's, and the sample being unwound (unwinder.cc)

 private:
  std::vector<Mapping> mappings_;  // by start
  bool unreported_ = false;        // added since the last unwind
  std::unique_ptr<State> state_;
};

}  // namespace viztrace::report
