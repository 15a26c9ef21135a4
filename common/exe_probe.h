// What an executable is, seen from outside before exec: can the shim enter it (a dynamic ELF of
// our class), or will it run untraced (static, set-user-ID, foreign), and is it a Go program.
// Uses only open/read/pread/fstat/close on stack buffers: safe between vfork and exec.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace vt_shim {

// VT_EXE_* flags for the file at path (relative to dirfd, as openat takes it).
uint32_t probe_exe(int dirfd, const char* path) noexcept;
// The same for an open file.
uint32_t probe_exe_fd(int fd) noexcept;

// Finds file along path_env ("dir:dir:...") as execvp would: the first entry that is an
// executable regular file. file with a '/' is taken as it is. Returns false when none is found.
bool search_path(const char* file, const char* path_env, char* out, size_t size) noexcept;

// Whether the ELF program headers at phdr (phnum entries, loaded with bias) carry a Go build-ID
// note: the running program is Go. For the shim's own process, from getauxval(AT_PHDR).
bool phdrs_mark_go(const void* phdr, size_t phnum, uintptr_t bias) noexcept;

}  // namespace vt_shim
