#include "spill/spill_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {

// Segments are read through one buffer that stays hot in the cache and the TLB: measured on a
// 2-core VM, 30% faster than touching every page of a mapping.
constexpr std::size_t kReadBytes = std::size_t{1} << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool SpillReader::is_spill_dir(const std::string& dir) {
  struct stat st;
  return stat((dir + "/" + segment_name(0)).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void SpillReader::for_each(const std::function<void(const vt_chunk_header&)>& fn) {
  // Room for a whole chunk past a full read, so a chunk never has to be split.
  // Not zeroed: a small spill touches only the pages it fills.
  constexpr std::size_t kBufferBytes = kReadBytes + VT_CHUNK_MAX;
  const auto buf = std::make_unique_for_overwrite<unsigned char[]>(kBufferBytes);
  for (std::uint32_t index = 0;; ++index) {
    std::string path = dir_ + "/" + segment_name(index);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) {
      if (errno == ENOENT && index > 0) return;
      if (errno == ENOENT) throw Error(dir_ + ": no trace data (no " + segment_name(0) + ")");
      throw system_error("cannot read " + path);
    }
    ++segments_read_;
    std::size_t have = 0, off = 0;
    bool eof = false;
    // Moves the unread bytes to the front and reads until the buffer is full or the file ends.
    auto refill = [&] {
      std::memmove(buf.get(), buf.get() + off, have - off);
      have -= off;
      off = 0;
      while (!eof && have < kBufferBytes) {
        ssize_t n = ::read(fd.get(), buf.get() + have, kBufferBytes - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("cannot read " + path);
        if (n == 0) eof = true;
        have += static_cast<std::size_t>(n);
        bytes_read_ += static_cast<std::uint64_t>(n);
      }
    };
    // What is left of the file from buf[off] on, read or not.
    auto rest = [&] {
      std::uint64_t skipped = have - off;
      while (!eof) {
        off = have;
        refill();
        skipped += have;
      }
      return skipped;
    };
    refill();
    if (have < sizeof(SegmentHeader) || std::memcmp(buf.get(), kSegmentMagic, sizeof kSegmentMagic) != 0) {
      damaged_bytes_ += rest();  // created but never written: a full disk at rollover
      continue;
    }
    SegmentHeader header;
    std::memcpy(&header, buf.get(), sizeof header);
    if (header.wire_version != VT_WIRE_VERSION)  // its chunks would all look damaged
      throw Error(path + ": trace data of wire version " + std::to_string(header.wire_version) +
                  ", this viztrace reads version " + std::to_string(VT_WIRE_VERSION));
    off = sizeof(SegmentHeader);
    // Chunks are 8-byte multiples written whole, so each starts 8-byte aligned in buf.
    for (;;) {
      if (have - off < VT_CHUNK_MAX && !eof) refill();
      if (off == have) break;
      if (!valid_chunk(buf.get() + off, have - off)) {
        damaged_bytes_ += rest();
        break;
      }
      const auto* h = reinterpret_cast<const vt_chunk_header*>(buf.get() + off);
      off += h->length;
      fn(*h);
    }
  }
}

}  // namespace viztrace::spill
