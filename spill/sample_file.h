// The sampled stacks of a run (`viztrace run --sample`): the file "samples" in the session dir,
// written by the collector while the run goes on and read by the report, which unwinds them.
//
// Layout: a SampleFileHeader, then records as perf_event_open(2) writes them into its ring
// (linux/perf_event.h: a perf_event_header, then the body), of the sample_type and user
// registers the header names, with sample_id_all set (every other record ends with its pid, tid
// and time): MMAP2, COMM, FORK of processes, LOST. Samples are kRecordStackDelta records
// instead: most of a thread's stack is the same from one sample to the next (the callers'
// frames), so each says which of its bytes are the previous sample's of its thread.
#pragma once

#include <cstdint>

namespace viztrace::spill {

inline constexpr char kSampleFileName[] = "samples";
inline constexpr std::uint32_t kSampleFileMagic = 0x41535a56u;  // "VZSA" as little-endian bytes
inline constexpr std::uint32_t kSampleFileVersion = 1;

// A sample: the body of a PERF_RECORD_SAMPLE up to its user registers (pid, tid, time,
// period, abi, registers), then a StackDelta, then its `low` bytes and its `high` bytes, each
// padded to 8. Its stack, from the stack pointer up, is `low` bytes, then `reused` bytes that
// are the previous sample's of the same (pid, tid) in this file at the same addresses, then
// `high` bytes.
inline constexpr std::uint32_t kRecordStackDelta = 0x7a01;
struct StackDelta {
  std::uint32_t low = 0, reused = 0, high = 0, reserved = 0;
};

enum class SampleMethod : std::uint32_t {
  none = 0,  // sampling was asked for and could not start: SampleFileHeader::why says why
  perf = 1,  // perf_event_open: the kernel samples each thread's CPU time
  // perf_event_open was refused (SampleFileHeader::why says why): each thread samples itself
  // with a CPU-time timer; the samples are VT_REC_SAMPLE records in the spill.
  timer = 2,
};

struct SampleFileHeader {
  std::uint32_t magic = kSampleFileMagic;
  std::uint32_t version = kSampleFileVersion;
  SampleMethod method = SampleMethod::none;
  std::uint32_t hz = 0;           // samples per second of a thread's CPU time
  std::uint64_t sample_type = 0;  // perf_event_attr::sample_type of every sample
  std::uint64_t regs_mask = 0;    // perf_event_attr::sample_regs_user
  std::uint32_t stack_bytes = 0;  // the most user stack a sample copies
  std::uint32_t machine = 0;      // EM_* of the registers (EM_X86_64)
  std::uint32_t user_only = 0;    // 1: the kernel samples user time only (exclude_kernel)
  char why[188] = {};             // not perf: why the kernel does not sample, NUL-terminated
};
static_assert(sizeof(SampleFileHeader) == 232);

}  // namespace viztrace::spill
