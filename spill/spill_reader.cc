#include "spill/spill_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/error.h"
#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {

class MappedFile {
 public:
  MappedFile(int fd, std::size_t size) : size_(size) {
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) data_ = static_cast<const unsigned char*>(p);
    }
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool ok() const { return size_ == 0 || data_ != nullptr; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_;
};

}  // namespace

bool SpillReader::is_spill_dir(const std::string& dir) {
  struct stat st;
  return stat((dir + "/" + segment_name(0)).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void SpillReader::for_each(const std::function<void(const vt_chunk_header&)>& fn) {
  for (std::uint32_t index = 0;; ++index) {
    std::string path = dir_ + "/" + segment_name(index);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT && index > 0) return;
      if (errno == ENOENT) throw Error(dir_ + ": no trace data (no " + segment_name(0) + ")");
      throw system_error("cannot read " + path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      throw system_error("cannot read " + path, err);
    }
    MappedFile map(fd, static_cast<std::size_t>(st.st_size));
    ::close(fd);
    if (!map.ok()) throw system_error("cannot map " + path);
    ++segments_read_;
    bytes_read_ += map.size();
    const unsigned char* p = map.data();
    std::size_t n = map.size();
    if (n < sizeof(SegmentHeader) || std::memcmp(p, kSegmentMagic, sizeof kSegmentMagic) != 0) {
      damaged_bytes_ += n;  // created but never written: a full disk at rollover
      continue;
    }
    std::size_t off = sizeof(SegmentHeader);
    // Chunks are 8-byte multiples written whole; mapped memory is page-aligned.
    while (off < n) {
      if (!valid_chunk(p + off, n - off)) {
        damaged_bytes_ += n - off;
        break;
      }
      const auto* h = reinterpret_cast<const vt_chunk_header*>(p + off);
      fn(*h);
      off += h->length;
    }
  }
}

}  // namespace viztrace::spill
