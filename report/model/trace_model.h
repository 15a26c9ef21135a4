// The trace as the writers and the summary see it: processes (one entry per pid incarnation)
// with their images and threads, instants, the spans and counters programs added, the session
// and what was lost. Times are the raw CLOCK_MONOTONIC nanoseconds of the wire; writers make
// them relative to `origin`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/wire.h"
#include "report/model/exit_status.h"

namespace viztrace::report {

// What an argv cut to fit left out (the shim keeps the first MiB of an argv).
struct ArgvCut {
  std::uint64_t arguments = 0, bytes = 0;  // bytes: each argument's NUL included
};

// One program a process ran: the first one, then a new one after each exec.
struct Image {
  std::uint64_t start = 0, end = 0;
  std::vector<std::string> argv;
  std::optional<ArgvCut> argv_cut;  // argv is the first part only
  std::string exe;   // as the kernel resolved it (from the shim or /proc)
  bool exe_as_execed = false;  // exe is the file as the exec named it (the shim's), not /proc's
  std::string path;  // as given to exec/spawn
  std::string cwd;
  const char* started_by = "spawn";  // "fork" | "spawn" | "exec" | "observed" | "launch"
  std::uint32_t exe_flags = 0;       // VT_EXE_* of the exec or spawn that began it
  bool confirmed = false;            // the shim announced it (PROC_START): argv/exe are its own
  bool traced = false;               // the shim ran inside it
  std::uint32_t exec_tid = 0;        // the thread whose EXEC began it (0: none did)

  // The name ps and top give it, the kernel's comm: the base name of the file that was exec'd
  // (for a "#!" script, the script; argv[0] is then its interpreter), else of argv[0], else of
  // exe; empty when nothing is known.
  std::string name() const;
};

struct Thread {
  std::uint32_t tid = 0;
  std::uint64_t start = 0, end = 0;
  std::string name;  // from THREAD_NAME, else "thread <tid>"
  bool end_unknown = false;
};

// CPU time and peak memory as getrusage or wait4 tell them.
struct Usage {
  std::uint64_t utime_ns = 0, stime_ns = 0, maxrss_kb = 0;
};

struct CpuTime {
  std::uint64_t user_ns = 0, system_ns = 0;
};

struct Process {
  std::uint32_t pid = 0;       // the real pid
  std::uint32_t json_pid = 0;  // pid, or pid + k * 4194304 for the k-th reuse of the pid
  std::uint32_t ppid = 0;      // 0: unknown
  std::uint32_t ns_pid = 0;    // its pid inside the PID namespace it ran in; 0: viztrace's
  std::uint64_t start = 0, end = 0;
  bool start_unknown = false;   // no record announced its start
  bool end_unknown = false;     // no record announced its end: it ends at the end of the run
                                // (Session::end), else at the last thing known of it
  bool is_target = false;       // the command viztrace launched
  std::vector<Image> images;    // never empty; consecutive images touch
  std::vector<Thread> threads;  // the non-main threads, by start
  ExitStatus status;
  std::optional<int> wait_status;  // raw, when a reaper or a pidfd told
  // Its own CPU time and peak memory, never its children's; and, when it waited for children,
  // the CPU time of it and them (theirs included), as the kernel counts it for its reaper.
  std::optional<CpuTime> cpu;
  std::optional<std::uint64_t> max_rss_kb;
  std::optional<CpuTime> cpu_with_children;

  // The last image's name, else "pid N".
  std::string name() const;
};

// Args of an event, by kind of value.
using TextArgs = std::vector<std::pair<std::string, std::string>>;
using NumberArgs = std::vector<std::pair<std::string, std::int64_t>>;

// A point in time worth marking: a failed spawn or exec, a signal viztrace got, or a mark a
// program made (viztrace.h, `viztrace mark`).
struct Instant {
  std::uint64_t ts = 0;
  std::uint32_t pid = 0, tid = 0;  // json pid
  bool global = false;             // on the global track rather than the thread's
  const char* category = "viztrace";  // "mark": made by the program
  std::string name;
  TextArgs text_args;
  NumberArgs number_args;
  std::vector<std::string> argv;  // "argv" arg when not empty
};

// A named span a program marked on one of its threads (viztrace.h, `viztrace span`).
struct Span {
  std::uint64_t start = 0, end = 0;
  std::uint32_t pid = 0, tid = 0;  // json pid, real tid
  std::string name;
  TextArgs text_args;
  NumberArgs number_args;
  bool unfinished = false;  // still open when its thread or program ended: closed there
};

// The samples of one counter (all processes that sent a sample of that name).
struct Counter {
  std::string name;
  std::vector<std::pair<std::uint64_t, double>> samples;  // (ts, value), by ts
};

struct AnnotationCounts {
  std::uint64_t spans = 0, marks = 0, counter_samples = 0;
  std::uint64_t unfinished_spans = 0;     // closed at their thread's or program's end
  std::uint64_t unmatched_span_ends = 0;  // ends without an open span on their thread: ignored
};

struct Session {
  bool known = false;  // a SESSION record was found
  std::uint64_t ts = 0;
  std::uint64_t realtime_ns = 0;
  std::uint32_t target_pid = 0, viztrace_pid = 0;
  std::vector<std::string> command;
  std::string cwd;
  // When viztrace ended the run (its final STATS record); unknown when it was killed. A
  // process whose end nobody told was still running then.
  std::optional<std::uint64_t> end;
};

struct LossCounts {
  std::uint64_t dropped_records = 0;  // records the shims dropped
  std::uint64_t seq_gaps = 0;         // chunks missing according to sequence numbers
  std::uint64_t bad_chunks = 0;       // invalid chunks the collector skipped
  std::uint64_t bad_bytes = 0;        // FIFO bytes that were not a valid chunk
  std::uint64_t spill_lost = 0;       // chunks the collector could not write to the spill
  std::uint64_t damaged_bytes = 0;    // spill bytes unreadable (torn tail, malformed records)
  std::uint64_t damaged_spots = 0;    // places where damaged bytes were found
  // The temp filesystem was full: function records dropped (also in dropped_records), and
  // threads whose calls were not recorded at all.
  std::uint64_t no_space_records = 0;
  std::uint64_t no_space_threads = 0;
  std::uint64_t argv_cut = 0;         // process images whose argv was cut to fit
  std::uint64_t argv_arguments_left_out = 0;  // the arguments those cuts left out
  std::uint64_t samples_lost = 0;     // sampled stacks taken and not recorded (--sample)

  // Records and chunks lost, damaged spots and cut argvs: 0 means nothing was lost.
  std::uint64_t total() const {
    return dropped_records + seq_gaps + bad_chunks + spill_lost + damaged_spots + no_space_threads +
           argv_cut + samples_lost +
           (bad_bytes > 0 && bad_chunks == 0 ? 1 : 0);
  }
};

struct TraceModel {
  Session session;
  std::uint64_t origin = 0;        // ts 0 of the report: the session start
  std::uint64_t end = 0;           // the last moment anything happened
  std::vector<Process> processes;  // by start time; process_sort_index is the position here
  std::vector<Instant> instants;   // by ts
  std::vector<Span> spans;         // by start (longer first)
  std::vector<Counter> counters;   // by name
  AnnotationCounts annotations;
  LossCounts lost;
  std::uint64_t events = 0;           // non-string records decoded
  std::optional<std::size_t> target;  // index of the launched command in processes

  std::uint64_t thread_count() const;  // main threads included
  // Process images the shim did not run in (followed from outside: no threads, functions or
  // CPU time of their own), by why: a static or foreign binary, a set-user-ID program, or
  // anything else (an environment without the shim's variables, a change of user or root).
  struct NotEntered {
    std::uint64_t total = 0, static_binary = 0, setuid = 0, other = 0;
  };
  NotEntered not_entered() const;
};

// The last component of a path ("cc" for "/usr/bin/cc", "/" for "/").
std::string basename_of(std::string_view path);

// VT_EXE_* flags as "static,go", the report's args.exe_kind.
std::string exe_flag_names(std::uint32_t flags);

// Splits an ARGV string (each element NUL-terminated; a last element may lack it).
std::vector<std::string> split_argv(std::string_view bytes);
// What an ARGV_CUT string says was left out of the ARGV before it; nullopt without one.
std::optional<ArgvCut> argv_cut_of(std::string_view bytes, bool present);

}  // namespace viztrace::report
