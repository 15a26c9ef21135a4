#include "spill/spill_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {
constexpr std::size_t kBufferBytes = 1u << 20;

bool write_all(int fd, const unsigned char* p, std::size_t n, int& err) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

SpillWriter::SpillWriter(SessionDir& dir, std::size_t segment_bytes)
    : SpillWriter(static_cast<SegmentDir&>(dir), 0, segment_bytes) {}

SpillWriter::SpillWriter(SegmentDir& dir, std::uint32_t first_segment, std::size_t segment_bytes)
    : dir_(dir), segment_bytes_(segment_bytes), segments_(first_segment) {
  buffer_.reserve(kBufferBytes);
}

SpillWriter::~SpillWriter() {
  flush();
  if (fd_ >= 0) ::close(fd_);
}

bool SpillWriter::open_segment() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (segments_ >= kMaxSegments) {
    last_error_ = EFBIG;
    return false;
  }
  // Count the segment before it exists, so no guard can miss it.
  dir_.set_segments(segments_ + 1);
  char name[kSegmentNameMax];
  segment_name(segments_, name);
  int fd = ::openat(dir_.fd(), name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    last_error_ = errno;
    dir_.set_segments(segments_);
    return false;
  }
  ++segments_;
  SegmentHeader h{};
  std::memcpy(h.magic, kSegmentMagic, sizeof h.magic);
  h.wire_version = VT_WIRE_VERSION;
  int err = 0;
  if (!write_all(fd, reinterpret_cast<const unsigned char*>(&h), sizeof h, err)) {
    last_error_ = err;
    ::close(fd);
    return false;
  }
  fd_ = fd;
  segment_size_ = sizeof h;
  return true;
}

void SpillWriter::append(const void* chunk, std::size_t length) { append({{chunk, length}}); }

void SpillWriter::append(std::initializer_list<Piece> chunk) {
  std::size_t length = 0;
  for (const Piece& piece : chunk) length += piece.length;
  if (buffer_.size() + length > kBufferBytes) flush();
  for (const Piece& piece : chunk) {
    const auto* p = static_cast<const unsigned char*>(piece.data);
    buffer_.insert(buffer_.end(), p, p + piece.length);
  }
  ++buffered_chunks_;
}

// Writes the buffer into the current segment, rolling over to a new one when the segment is
// full or the file size limit says so (EFBIG). A failed write is cut back off the segment, so
// segments only ever hold whole chunks.
bool SpillWriter::write_buffer() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0 || segment_size_ + buffer_.size() > segment_bytes_) {
      if (!open_segment()) return false;
    }
    int err = 0;
    if (write_all(fd_, buffer_.data(), buffer_.size(), err)) {
      segment_size_ += buffer_.size();
      bytes_written_ += buffer_.size();
      return true;
    }
    last_error_ = err;
    if (ftruncate(fd_, static_cast<off_t>(segment_size_)) == 0)
      lseek(fd_, static_cast<off_t>(segment_size_), SEEK_SET);
    if (err != EFBIG) return false;
    segment_size_ = segment_bytes_;  // force a new segment on the retry
  }
  return false;
}

bool SpillWriter::flush() {
  if (!buffer_.empty()) {
    if (!write_buffer()) {
      lost_chunks_ += buffered_chunks_;
      lost_since_flush_ = true;
    }
    buffer_.clear();
    buffered_chunks_ = 0;
  }
  bool ok = !lost_since_flush_;
  lost_since_flush_ = false;
  return ok;
}

}  // namespace viztrace::spill
