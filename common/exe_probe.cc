#include "common/exe_probe.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/sys.h"
#include "common/wire.h"

namespace vt_shim {
namespace {

constexpr size_t kMaxPhdrs = 64;
constexpr size_t kMaxNote = 1024;

// Go's linker writes a note named "Go" of type 4 (the Go build ID).
bool notes_mark_go(const unsigned char* p, size_t n) {
  size_t off = 0;
  while (off + 12 <= n) {
    uint32_t namesz, descsz, type;
    memcpy(&namesz, p + off, 4);
    memcpy(&descsz, p + off + 4, 4);
    memcpy(&type, p + off + 8, 4);
    size_t name_at = off + 12;
    size_t desc_at = name_at + ((namesz + 3) & ~3u);
    if (desc_at > n) return false;
    if ((namesz == 3 || namesz == 4) && type == 4 && memcmp(p + name_at, "Go", 3) == 0)
      return true;
    off = desc_at + ((descsz + 3) & ~3u);
  }
  return false;
}

// The program and note headers sit in the first KiB of nearly every binary, so one read of
// the head answers; anything further out is read into a buffer that is only on the stack then
// (each stack page a fresh process touches is a page fault).
constexpr size_t kHead = 1024;

__attribute__((noinline)) bool note_far_marks_go(int fd, const Elf64_Phdr& ph) {
  unsigned char note[kMaxNote];
  long got = sys::pread(fd, note, ph.p_filesz, static_cast<long>(ph.p_offset));
  return got == static_cast<long>(ph.p_filesz) && notes_mark_go(note, ph.p_filesz);
}

uint32_t classify_phdrs(int fd, const unsigned char* head, size_t n, const unsigned char* phbytes,
                        size_t phnum) {
  uint32_t flags = VT_EXE_STATIC;
  for (size_t i = 0; i < phnum; ++i) {
    Elf64_Phdr ph;
    memcpy(&ph, phbytes + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_INTERP) flags &= ~uint32_t{VT_EXE_STATIC};
    if (ph.p_type != PT_NOTE || ph.p_filesz > kMaxNote || (flags & VT_EXE_GO)) continue;
    bool go = ph.p_offset <= n && ph.p_filesz <= n - ph.p_offset
                  ? notes_mark_go(head + ph.p_offset, ph.p_filesz)
                  : note_far_marks_go(fd, ph);
    if (go) flags |= VT_EXE_GO;
  }
  return flags;
}

__attribute__((noinline)) uint32_t classify_phdrs_far(int fd, const unsigned char* head,
                                                      size_t n, const Elf64_Ehdr& eh) {
  alignas(Elf64_Phdr) unsigned char phbuf[kMaxPhdrs * sizeof(Elf64_Phdr)];
  size_t bytes = eh.e_phnum * sizeof(Elf64_Phdr);
  if (sys::pread(fd, phbuf, bytes, static_cast<long>(eh.e_phoff)) != static_cast<long>(bytes))
    return VT_EXE_UNREADABLE;
  return classify_phdrs(fd, head, n, phbuf, eh.e_phnum);
}

uint32_t probe_elf(int fd, const unsigned char* head, size_t n) {
  if (n < EI_NIDENT) return VT_EXE_UNREADABLE;
  if (head[EI_CLASS] != ELFCLASS64) return VT_EXE_FOREIGN;
  if (n < sizeof(Elf64_Ehdr)) return VT_EXE_UNREADABLE;
  Elf64_Ehdr eh;
  memcpy(&eh, head, sizeof eh);
#if defined(__x86_64__)
  if (eh.e_machine != EM_X86_64) return VT_EXE_FOREIGN;
#elif defined(__aarch64__)
  if (eh.e_machine != EM_AARCH64) return VT_EXE_FOREIGN;
#endif
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxPhdrs)
    return VT_EXE_UNREADABLE;
  size_t bytes = eh.e_phnum * sizeof(Elf64_Phdr);
  if (eh.e_phoff <= n && bytes <= n - eh.e_phoff)
    return classify_phdrs(fd, head, n, head + eh.e_phoff, eh.e_phnum);
  return classify_phdrs_far(fd, head, n, eh);
}

// Non-blocking: an exec'd path may name a FIFO, whose open would wait for a writer forever
// (the exec itself just fails). No controlling terminal from a tty either.
constexpr int kProbeOpen = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

uint32_t probe(int fd, int depth) {
  struct stat st;
  if (sys::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return VT_EXE_UNREADABLE;
  uint32_t flags = 0;
  if (st.st_mode & (S_ISUID | S_ISGID)) flags |= VT_EXE_SETUID;
  if (sys::fgetxattr(fd, "security.capability", nullptr, 0) > 0) flags |= VT_EXE_SETUID;
  alignas(8) unsigned char head[kHead];
  long n = sys::pread(fd, head, sizeof head, 0);
  if (n < 4) return flags | VT_EXE_UNREADABLE;
  if (memcmp(head, ELFMAG, SELFMAG) == 0) return flags | probe_elf(fd, head, static_cast<size_t>(n));
  if (head[0] == '#' && head[1] == '!' && depth < 2) {
    // "#! /path/interp arg": probe the interpreter, which is what actually runs. Linux ignores
    // set-ID bits and capabilities on a script, so only the interpreter's flags count.
    char interp[256];
    // The kernel reads at most 256 bytes of the "#!" line.
    size_t limit = static_cast<size_t>(n) < sizeof interp ? static_cast<size_t>(n) : sizeof interp;
    size_t i = 2, j = 0;
    while (i < limit && (head[i] == ' ' || head[i] == '\t')) ++i;
    while (i < limit && j + 1 < sizeof interp && head[i] != ' ' && head[i] != '\t' &&
           head[i] != '\n')
      interp[j++] = static_cast<char>(head[i++]);
    interp[j] = '\0';
    if (j == 0) return VT_EXE_SCRIPT | VT_EXE_UNREADABLE;
    int ifd = static_cast<int>(sys::open(interp, kProbeOpen));
    if (ifd < 0) return VT_EXE_SCRIPT | VT_EXE_UNREADABLE;
    uint32_t inner = probe(ifd, depth + 1);
    sys::close(ifd);
    return VT_EXE_SCRIPT | inner;
  }
  return flags | VT_EXE_UNREADABLE;
}

}  // namespace

uint32_t probe_exe_fd(int fd) noexcept { return probe(fd, 0); }

uint32_t probe_exe(int dirfd, const char* path) noexcept {
  int fd = static_cast<int>(sys::openat(dirfd, path, kProbeOpen));
  if (fd < 0) return VT_EXE_UNREADABLE;
  uint32_t flags = probe(fd, 0);
  sys::close(fd);
  return flags;
}

bool search_path(const char* file, const char* path_env, char* out, size_t size) noexcept {
  size_t flen = strlen(file);
  if (flen == 0) return false;
  if (strchr(file, '/')) {
    if (flen + 1 > size) return false;
    memcpy(out, file, flen + 1);
    return true;
  }
  // PATH unset: glibc's default. PATH empty: one empty entry, the current directory (as execvp).
  const char* p = path_env ? path_env : "/bin:/usr/bin";
  while (true) {
    const char* end = strchr(p, ':');
    size_t dlen = end ? static_cast<size_t>(end - p) : strlen(p);
    if (dlen == 0) dlen = 1, p = ".";  // an empty entry is the current directory
    if (dlen + 1 + flen + 1 <= size) {
      memcpy(out, p, dlen);
      out[dlen] = '/';
      memcpy(out + dlen + 1, file, flen + 1);
      struct stat st;
      if (sys::stat(out, &st) == 0 && S_ISREG(st.st_mode) && sys::access(out, X_OK) == 0)
        return true;
    }
    if (!end) return false;
    p = end + 1;
  }
}

bool phdrs_mark_go(const void* phdr, size_t phnum, uintptr_t bias) noexcept {
  const auto* ph = static_cast<const Elf64_Phdr*>(phdr);
  for (size_t i = 0; i < phnum; ++i) {
    if (ph[i].p_type == PT_NOTE &&
        notes_mark_go(reinterpret_cast<const unsigned char*>(bias + ph[i].p_vaddr), ph[i].p_memsz))
      return true;
  }
  return false;
}

}  // namespace vt_shim
