// Function calls of programs built with -finstrument-functions.
//
// The shim defines __cyg_profile_func_enter/exit. Each thread appends 16-byte records (a
// timestamp and the function's address) to a ring in a file of the session dir, mapped shared
// with the collector (common/wire.h, vt_fn_ring): no lock, no allocation and no system call on
// the hot path, one clock read per event, and whatever the thread wrote survives a crash,
// _exit or SIGKILL of its process. The ring is made on the thread's first call; the loaded
// modules are announced with it and again whenever the loader's counts of loads and unloads
// have moved: checked at the calling thread's first record after a dlopen, before and after a
// dlclose, every 65536 records of a thread, and when a thread or the process ends.
#pragma once

namespace vt_shim {

// From the constructor, once tracing is set up (the rings are made next to the session FIFO):
// the values of VIZTRACE_CLOCK and VIZTRACE_MAX_DEPTH, null when unset.
void functions_init(const char* clock, const char* max_depth) noexcept;
// In a fork child: the rings belong to the parent.
void functions_on_fork_child() noexcept;
// The calling thread ends: its ring is final.
void functions_thread_exit() noexcept;
// The process exits: the calling thread's ring is published, and modules loaded since the
// last announcement are announced.
void functions_process_exit() noexcept;
// Modules may have been loaded or unloaded (dlclose): they are announced again if so, once a
// ring exists in this process.
void functions_modules_changed() noexcept;
// Announces the loaded modules now, and from then on whenever they change (sampled stacks
// need them as calls do).
void functions_announce_modules() noexcept;
// The calling thread's records so far are made visible to the collector (before an exec).
void functions_publish() noexcept;

}  // namespace vt_shim
