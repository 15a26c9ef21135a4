/* The wire format between the shim (inside traced processes), the collector and the spill.
 *
 * C-compatible and shared by both sides; nothing else is. Every traced thread writes a stream of
 * chunks into the session FIFO. A chunk is one atomic write (at most VT_CHUNK_MAX bytes, which is
 * PIPE_BUF): a header followed by records. The collector validates headers only and appends whole
 * chunks to the spill; the report decodes records. Bump VT_WIRE_VERSION on any layout change. */
#ifndef VIZTRACE_CORE_WIRE_H
#define VIZTRACE_CORE_WIRE_H

#include <stdint.h>

#define VT_WIRE_MAGIC 0x31545a56u /* "VZT1" read as little-endian bytes */
#define VT_WIRE_VERSION 5
#define VT_CHUNK_MAX 4096 /* PIPE_BUF on Linux: writes up to this size are atomic */

/* Environment variables the launcher sets for the target and the shim passes on. */
#define VT_ENV_FIFO "VIZTRACE_FIFO"   /* absolute path of the session FIFO */
#define VT_ENV_SHIM "VIZTRACE_SHIM"   /* absolute path of the shim, re-added to LD_PRELOAD */
#define VT_ENV_DEBUG "VIZTRACE_DEBUG" /* set: the shim explains on stderr why it turned off */
#define VT_ENV_CLOCK "VIZTRACE_CLOCK" /* "tsc": function events may read the TSC */
#define VT_ENV_MAX_DEPTH "VIZTRACE_MAX_DEPTH" /* function calls deeper than this: not recorded */
#define VT_ENV_PID_NS "VIZTRACE_PID_NS" /* inode of viztrace's PID namespace, in decimal */
/* Set when the kernel would not sample (perf_event_open refused): each thread samples itself,
 * this many times per second of its CPU time, with a timer and SIGPROF (shim/sampling.h). */
#define VT_ENV_SAMPLE "VIZTRACE_SAMPLE"

/* A process in another PID namespace than viztrace's sends one hello, before the first chunk of
 * each of its images, as a datagram to the socket VT_HELLO_NAME beside the FIFO: the kernel tells
 * the collector the sender's pid in viztrace's namespace (SO_PASSCRED), and the hello names the
 * (pid, image) its chunks will carry. */
#define VT_HELLO_NAME "hello"
typedef struct vt_hello {
  uint32_t magic;   /* VT_WIRE_MAGIC */
  uint32_t version; /* VT_WIRE_VERSION */
  uint32_t pid;     /* the sender's pid in its own namespace */
  uint32_t tid;     /* the sending thread, likewise */
  uint32_t image;   /* nonce of the image whose chunks follow */
  uint32_t reserved;
} vt_hello;

/* The image nonce of a new process image (seed: its start time), or of a vfork child that
 * writes before it execs (seed: its parent's nonce): the collector pairs such a child with its
 * parent by it. */
static inline uint32_t vt_image_nonce(uint64_t seed, uint32_t pid) {
  uint64_t x = seed ^ ((uint64_t)pid * 0x9E3779B97F4A7C15ull);
  x ^= x >> 29;
  return (uint32_t)x | 1u;
}

/* vt_chunk_header.kind */
enum {
  VT_KIND_RECORDS = 1,   /* vt_record-headed records */
  /* 2: raw function records, retired in version 4; never reused */
  VT_KIND_FUNCTIONS_PACKED = 3, /* nrec vt_fn_records packed (spill/fn_pack.h): what the
                                   collector makes of a function ring's records; reserved:
                                   VT_CLOCK_*; pid/tid/image are the ring's */
};

/* vt_chunk_header.flags */
enum {
  VT_CHUNK_STREAM_START = 1u << 0, /* first chunk of a (pid, tid, image) stream */
  VT_CHUNK_STREAM_END = 1u << 1,   /* the thread or process image will write no more */
  VT_CHUNK_COLLECTOR = 1u << 2,    /* written by viztrace itself, not by a traced process */
  VT_CHUNK_UNSEQUENCED = 1u << 3,  /* written re-entrantly (signal handler): seq not counted */
};

typedef struct vt_chunk_header {
  uint32_t magic;    /* VT_WIRE_MAGIC */
  uint8_t version;   /* VT_WIRE_VERSION */
  uint8_t kind;      /* VT_KIND_* */
  uint16_t length;   /* whole chunk in bytes, header included; <= VT_CHUNK_MAX */
  uint32_t pid;      /* writer's process; in the spill, as viztrace's PID namespace numbers it */
  uint32_t tid;      /* writer's thread; likewise */
  uint32_t image;    /* nonce of the process image (changes on exec) */
  uint32_t seq;      /* chunk number within the (pid, tid, image) stream, from 0 */
  uint16_t nrec;     /* records in this chunk */
  uint8_t flags;     /* VT_CHUNK_* */
  uint8_t reserved;  /* 0 */
  uint32_t dropped;  /* records this stream dropped since its previous chunk */
} vt_chunk_header;

/* Function calls (-finstrument-functions) take another path than the FIFO: each thread writes
 * them into a ring in a file of the session dir, mapped by both sides. The shim announces a
 * ring with VT_REC_FN_RING; the collector moves what the ring holds into the spill as
 * VT_KIND_FUNCTIONS_PACKED chunks while the thread runs, and the rest once the thread or
 * viztrace is done, so a crash, _exit or SIGKILL of the traced process loses nothing it wrote. */
#define VT_FN_RING_MAGIC 0x4e465a56u /* "VZFN" */
#define VT_FN_RING_HEADER 4096u      /* the records start one page in */
#define VT_FN_EXIT (1ull << 63)      /* in vt_fn_record.ts: the call returns */
#define VT_FN_PUBLISH_EVERY 16u      /* see vt_fn_ring.produced */

enum { VT_CLOCK_MONOTONIC = 0, VT_CLOCK_TSC = 1 };
/* In VT_REC_FN_RING's aux: the thread has no ring, the temp filesystem had no space for one,
 * so its calls are not recorded. */
#define VT_FN_RING_NO_SPACE 0x100u

typedef struct vt_fn_record {
  uint64_t ts;   /* VT_FN_EXIT | time (CLOCK_MONOTONIC ns, or TSC ticks: see VT_CLOCK_*) */
  uint64_t addr; /* the function's address in the process */
} vt_fn_record;

typedef struct vt_fn_ring {
  uint32_t magic;    /* VT_FN_RING_MAGIC */
  uint32_t version;  /* VT_WIRE_VERSION */
  uint32_t pid, tid, image;
  uint32_t clock;    /* VT_CLOCK_* of the records' ts */
  uint64_t capacity; /* records the ring holds (a power of two) */
  /* Written by the shim: records written so far (record i is at slot i % capacity), published
   * every VT_FN_PUBLISH_EVERY records and whenever the thread waits, execs or ends; and records
   * it had to drop, and how long it waited for room. A thread that died unannounced may have
   * written up to VT_FN_PUBLISH_EVERY - 1 records past `produced`: once its process is gone, a
   * reader takes those slots that hold newer records than slot produced - 1. */
  uint64_t produced;
  uint64_t dropped;
  uint64_t waited_ns;
  uint32_t closed; /* 1: the thread will write no more */
  /* Slots the file has space for, from slot 0: the shim reserves space (fallocate) before it
   * writes a slot, so that a full temp filesystem drops records instead of faulting. A reader
   * never touches slots at or past this either: on tmpfs even a read of a hole takes a page. */
  uint32_t backed;
  /* Written by the collector, on the next cache line: records it has taken. */
  uint64_t consumed;
  /* Written by the shim, rarely: of `dropped`, those for want of space in the filesystem. */
  uint64_t no_space;
} vt_fn_ring;

/* Every record starts with this header; size is a multiple of 8 and includes the header. */
typedef struct vt_record {
  uint16_t type; /* VT_REC_* */
  uint16_t size; /* whole record in bytes */
  uint32_t aux;  /* meaning depends on type */
  uint64_t ts;   /* CLOCK_MONOTONIC, nanoseconds: one timeline for all processes */
} vt_record;

/* String records accumulate in their stream and belong to the next non-string record.
 * A string longer than a chunk arrives in pieces; the last piece has VT_STR_FINAL. */
enum {
  VT_STR_ARGV = 1,    /* argv, each element NUL-terminated */
  VT_STR_EXE = 2,     /* the executable's path (absolute; symlinks not resolved) */
  VT_STR_CWD = 3,     /* working directory */
  VT_STR_PATH = 4,    /* the file given to exec/spawn */
  VT_STR_NAME = 5,    /* a thread's name, or an annotation's */
  VT_STR_COMMAND = 6, /* the command viztrace runs, argv-style */
  VT_STR_ARGS = 7,    /* args of an annotation: "key=value" items, each NUL-terminated */
  VT_STR_ARGV_CUT = 8, /* after an ARGV cut short to fit: a vt_argv_cut, what it left out */
};
#define VT_STR_FINAL 0x100u
#define VT_STR_AUX(field, final, len) \
  ((uint32_t)(field) | ((final) ? VT_STR_FINAL : 0u) | ((uint32_t)(len) << 16))
#define VT_STR_FIELD(aux) ((aux)&0xffu)
#define VT_STR_IS_FINAL(aux) (((aux)&VT_STR_FINAL) != 0)
#define VT_STR_LEN(aux) ((aux) >> 16)

/* What the shim learned about an executable before exec/spawn (vt_record.aux of EXEC/SPAWN). */
enum {
  VT_EXE_STATIC = 1u << 0,     /* ELF without PT_INTERP: the loader never runs, no shim */
  VT_EXE_GO = 1u << 1,         /* a Go program: forks and execs with raw system calls */
  VT_EXE_SETUID = 1u << 2,     /* set-user/group-ID or file capabilities: preload ignored */
  VT_EXE_SCRIPT = 1u << 3,     /* "#!" script; the other flags describe its interpreter */
  VT_EXE_UNREADABLE = 1u << 4, /* could not be inspected */
  VT_EXE_FOREIGN = 1u << 5,    /* another ELF class or machine: the shim cannot load */
  VT_EXE_UNPROBED = 1u << 6,   /* left to the collector, which probes PATH (absolute) and
                                  puts its flags in place of this before spilling the record */
};
#define VT_EXE_SHIMLESS (VT_EXE_STATIC | VT_EXE_SETUID | VT_EXE_FOREIGN)

/* vt_record.aux of PROC_START */
enum {
  VT_PROC_GO = 1u << 1,     /* the image is a Go program (children need watching) */
  VT_PROC_FORKED = 1u << 2, /* a fork child that has not exec'd: argv is its parent's */
};

enum {
  /* Written by the shim. */
  VT_REC_STRING = 1,       /* aux: VT_STR_AUX; payload: the bytes, zero-padded */
  VT_REC_PROC_START = 2,   /* the shim entered a new image; aux: VT_PROC_*; vt_proc_start;
                              strings ARGV, EXE, CWD. An EXEC of the same pid before it means
                              this image replaced an earlier one. */
  VT_REC_EXEC = 3,         /* about to exec; aux: VT_EXE_*; vt_proc_start (ppid); strings
                              PATH, ARGV. May come from a vfork child that said nothing before */
  VT_REC_EXEC_FAILED = 4,  /* the exec announced before it failed; aux: errno */
  VT_REC_SPAWN = 5,        /* posix_spawn returned; aux: VT_EXE_*; vt_spawn; PATH, ARGV */
  VT_REC_FORK = 6,         /* fork returned in the parent; vt_pid */
  VT_REC_EXIT = 7,         /* exit()/_exit() called; aux: status; vt_usage */
  VT_REC_REAP = 8,         /* a child was reaped; aux: wait status; vt_reap */
  VT_REC_THREAD_START = 9, /* the writing thread started */
  VT_REC_THREAD_EXIT = 10, /* the writing thread is ending */
  VT_REC_THREAD_NAME = 11, /* aux: tid that got the name; string NAME */
  VT_REC_FN_RING = 12,     /* the writing thread's function ring; string PATH (in the session
                              dir); aux: VT_CLOCK_* | VT_FN_RING_NO_SPACE */
  VT_REC_MODULE = 13,      /* a loaded ELF object; vt_module; string PATH. All of an image's
                              modules are sent together, under one ts, with its first ring and
                              whenever objects were loaded or unloaded since (after a dlopen,
                              around a dlclose): one missing from a later set was unloaded */
  /* Annotations (include/viztrace.h, `viztrace mark|span|counter`): each is one chunk. */
  VT_REC_SPAN_BEGIN = 14,  /* a span begins on the writing thread; string NAME, optional ARGS */
  VT_REC_SPAN_END = 15,    /* the thread's innermost open span ends; optional string ARGS
                              (added to the span's) */
  VT_REC_MARK = 16,        /* an instant; aux: VT_MARK_*; string NAME, optional ARGS */
  VT_REC_COUNTER = 17,     /* a sample of the counter named by string NAME; vt_counter */
  VT_REC_DETACHED = 18,    /* the process changed its user or root, and can no longer reach the
                              session: it and its descendants are followed through /proc from
                              here on; aux: VT_DETACHED_*; string ARGV (of the image now) */
  VT_REC_SAMPLE = 19,      /* a sampled stack (VIZTRACE_SAMPLE), one per unsequenced chunk;
                              aux: samples of this process dropped since its last one (the FIFO
                              was full); vt_sample, then the stack bytes */

  /* Written by the collector (chunks with VT_CHUNK_COLLECTOR). */
  VT_REC_SESSION = 64,  /* vt_session; strings COMMAND, CWD. ts is the trace start */
  VT_REC_OBSERVED = 65, /* a process seen through /proc; aux: VT_OBSERVED_*; vt_observed;
                           strings ARGV, EXE */
  VT_REC_ENDED = 66,    /* a watched process ended; vt_ended */
  VT_REC_SIGNAL = 67,   /* viztrace received a signal; aux: signal; vt_pid: who it went to */
  VT_REC_STATS = 68,    /* final counts; vt_stats */
  VT_REC_CLOCK = 69,    /* a TSC reading at ts: vt_clock (maps TSC ticks to ts) */
};

/* vt_record.aux of DETACHED: what the process changed */
enum {
  VT_DETACHED_CREDENTIALS = 1u << 0, /* setuid, setresuid, setgroups, ... */
  VT_DETACHED_ROOT = 1u << 1,        /* chroot */
};

/* vt_record.aux of OBSERVED */
enum {
  VT_OBSERVED_EXEC = 1u << 0, /* a followed process exec'd: a new image of the same pid */
  VT_OBSERVED_FORK = 1u << 1, /* a fork child of a followed process (the kernel said so) */
};

/* vt_record.aux of MARK */
enum {
  VT_MARK_GLOBAL = 1u << 0, /* marks a moment of the whole run, not of the writing thread */
};

typedef struct vt_proc_start {
  uint32_t ppid;
  /* 0 from the shim. The collector puts here the writer's pid as its own PID namespace numbers
   * it, when that is not viztrace's (it then rewrites the pids of the chunk to viztrace's). */
  uint32_t ns_pid;
} vt_proc_start;

typedef struct vt_pid {
  int32_t pid;
  uint32_t reserved;
} vt_pid;

typedef struct vt_spawn {
  int32_t pid;   /* child, or -1 */
  int32_t error; /* errno-style result of the spawn, 0 on success */
} vt_spawn;

typedef struct vt_usage {
  uint64_t utime_ns;
  uint64_t stime_ns;
  uint64_t maxrss_kb;
} vt_usage;

typedef struct vt_reap {
  int32_t pid;
  uint32_t has_usage; /* 1 when usage is filled (wait3/wait4) */
  vt_usage usage;
} vt_reap;

/* The bytes of a VT_STR_ARGV_CUT string: the arguments an ARGV string left out, and their
 * bytes (each with its NUL, as execve counts them). */
typedef struct vt_argv_cut {
  uint64_t arguments;
  uint64_t bytes;
} vt_argv_cut;

typedef struct vt_module {
  uint64_t bias;      /* load bias: runtime address - link-time address */
  uint64_t low, high; /* runtime range of its executable segments */
} vt_module;

/* The registers of a sample in DWARF's x86-64 numbering: rax rdx rcx rbx rsi rdi rbp rsp
 * r8-r15 rip. */
#define VT_SAMPLE_REGS 17
typedef struct vt_sample {
  uint64_t period_ns;             /* the thread's CPU time this sample stands for */
  uint64_t regs[VT_SAMPLE_REGS];
  uint32_t stack_bytes;           /* copied from rsp up, following this struct (padded to 8) */
  uint32_t reserved;
} vt_sample;
typedef struct vt_clock {
  uint64_t tsc;
} vt_clock;

typedef struct vt_counter {
  double value;
} vt_counter;

typedef struct vt_session {
  uint64_t realtime_ns; /* wall clock at ts, for the report's start time */
  int32_t target_pid;
  int32_t viztrace_pid;
} vt_session;

typedef struct vt_observed {
  int32_t pid;
  int32_t ppid;
} vt_observed;

typedef struct vt_ended {
  int32_t pid;
  int32_t status; /* raw wait status, or -1 when nobody could tell */
} vt_ended;

typedef struct vt_stats {
  uint64_t chunks;          /* valid chunks received */
  uint64_t records;         /* records in them */
  uint64_t dropped_records; /* records the shims dropped (vt_chunk_header.dropped) */
  uint64_t seq_gaps;        /* chunks missing according to sequence numbers */
  uint64_t bad_bytes;       /* bytes of the FIFO that were not a valid chunk */
  uint64_t bad_chunks;      /* invalid chunks (bad header) skipped */
  uint64_t spill_lost;      /* chunks that could not be written to the spill */
  uint64_t fn_records;      /* function records taken from the rings */
  uint64_t fn_waited_ns;    /* how long traced threads waited for room in their rings */
  uint64_t no_space_records; /* function records dropped: the temp filesystem was full */
  uint64_t no_space_threads; /* threads with no function ring: the temp filesystem was full */
  uint64_t detached;         /* processes that changed user or root and were followed via /proc */
  uint64_t samples;          /* sampled stacks written (viztrace run --sample) */
  uint64_t samples_lost;     /* sampled stacks lost: a full ring or temp filesystem */
} vt_stats;

#ifdef __cplusplus
static_assert(sizeof(vt_chunk_header) == 32, "chunk header layout");
static_assert(sizeof(vt_record) == 16, "record header layout");
static_assert(sizeof(vt_proc_start) == 8, "vt_proc_start layout");
static_assert(sizeof(vt_pid) == 8, "vt_pid layout");
static_assert(sizeof(vt_spawn) == 8, "vt_spawn layout");
static_assert(sizeof(vt_usage) == 24, "vt_usage layout");
static_assert(sizeof(vt_reap) == 32, "vt_reap layout");
static_assert(sizeof(vt_session) == 16, "vt_session layout");
static_assert(sizeof(vt_observed) == 8, "vt_observed layout");
static_assert(sizeof(vt_ended) == 8, "vt_ended layout");
static_assert(sizeof(vt_stats) == 112, "vt_stats layout");
static_assert(sizeof(vt_fn_record) == 16, "vt_fn_record layout");
static_assert(sizeof(vt_fn_ring) == 80, "vt_fn_ring layout");
static_assert(sizeof(vt_module) == 24, "vt_module layout");
static_assert(sizeof(vt_argv_cut) == 16, "vt_argv_cut layout");
static_assert(sizeof(vt_counter) == 8, "vt_counter layout");
static_assert(sizeof(vt_hello) == 24, "vt_hello layout");
static_assert(sizeof(vt_sample) == 152, "vt_sample layout");
#else
_Static_assert(sizeof(vt_chunk_header) == 32, "chunk header layout");
_Static_assert(sizeof(vt_record) == 16, "record header layout");
#endif

#endif /* VIZTRACE_CORE_WIRE_H */
