#include "core/shim/exe_probe.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/wire.h"

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

uint32_t probe_elf(int fd, const unsigned char* head, size_t n) {
  if (n < sizeof(Elf64_Ehdr)) return VT_EXE_UNREADABLE;
  if (head[EI_CLASS] != ELFCLASS64) return VT_EXE_FOREIGN;
  Elf64_Ehdr eh;
  memcpy(&eh, head, sizeof eh);
#if defined(__x86_64__)
  if (eh.e_machine != EM_X86_64) return VT_EXE_FOREIGN;
#elif defined(__aarch64__)
  if (eh.e_machine != EM_AARCH64) return VT_EXE_FOREIGN;
#endif
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxPhdrs)
    return VT_EXE_UNREADABLE;
  Elf64_Phdr ph[kMaxPhdrs];
  size_t bytes = eh.e_phnum * sizeof(Elf64_Phdr);
  if (pread(fd, ph, bytes, static_cast<off_t>(eh.e_phoff)) != static_cast<ssize_t>(bytes))
    return VT_EXE_UNREADABLE;
  uint32_t flags = VT_EXE_STATIC;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    if (ph[i].p_type == PT_INTERP) flags &= ~uint32_t{VT_EXE_STATIC};
    if (ph[i].p_type == PT_NOTE && ph[i].p_filesz <= kMaxNote && !(flags & VT_EXE_GO)) {
      unsigned char note[kMaxNote];
      ssize_t got = pread(fd, note, ph[i].p_filesz, static_cast<off_t>(ph[i].p_offset));
      if (got > 0 && notes_mark_go(note, static_cast<size_t>(got))) flags |= VT_EXE_GO;
    }
  }
  return flags;
}

uint32_t probe(int fd, int depth) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return VT_EXE_UNREADABLE;
  uint32_t flags = 0;
  if (st.st_mode & (S_ISUID | S_ISGID)) flags |= VT_EXE_SETUID;
  if (fgetxattr(fd, "security.capability", nullptr, 0) > 0) flags |= VT_EXE_SETUID;
  unsigned char head[256];
  ssize_t n = pread(fd, head, sizeof head, 0);
  if (n < 4) return flags | VT_EXE_UNREADABLE;
  if (memcmp(head, ELFMAG, SELFMAG) == 0) return flags | probe_elf(fd, head, static_cast<size_t>(n));
  if (head[0] == '#' && head[1] == '!' && depth < 2) {
    // "#! /path/interp arg": probe the interpreter, which is what actually runs. Linux ignores
    // set-ID bits and capabilities on a script, so only the interpreter's flags count.
    char interp[sizeof head];
    size_t i = 2, j = 0;
    while (i < static_cast<size_t>(n) && (head[i] == ' ' || head[i] == '\t')) ++i;
    while (i < static_cast<size_t>(n) && head[i] != ' ' && head[i] != '\t' && head[i] != '\n')
      interp[j++] = static_cast<char>(head[i++]);
    interp[j] = '\0';
    if (j == 0) return VT_EXE_SCRIPT | VT_EXE_UNREADABLE;
    int ifd = open(interp, O_RDONLY | O_CLOEXEC);
    if (ifd < 0) return VT_EXE_SCRIPT | VT_EXE_UNREADABLE;
    uint32_t inner = probe(ifd, depth + 1);
    close(ifd);
    return VT_EXE_SCRIPT | inner;
  }
  return flags | VT_EXE_UNREADABLE;
}

}  // namespace

uint32_t probe_exe_fd(int fd) noexcept { return probe(fd, 0); }

uint32_t probe_exe(int dirfd, const char* path) noexcept {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return VT_EXE_UNREADABLE;
  uint32_t flags = probe(fd, 0);
  close(fd);
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
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return true;
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
