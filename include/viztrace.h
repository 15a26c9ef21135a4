/* viztrace.h: marks, spans and counters from your own program, for `viztrace run`.
 *
 *   #include <viztrace.h>
 *
 *   viztrace_thread_name("loader");
 *   viztrace_span_begin("load config");      ... viztrace_span_end();
 *   viztrace_instant("cache miss", "key=users shard=3");
 *   viztrace_counter("queue depth", 17);
 *   { VIZTRACE_SPAN("parse"); ... }           (C++: ends at the end of the scope)
 *
 * Include it and call it; link nothing. Under `viztrace run` the calls become slices, instants
 * and counter tracks of the report (README.md, "Marks, spans and counters"). Without viztrace
 * they do nothing and cost a load and a branch: the functions are inline wrappers around weak
 * references to viztrace's preload library ("the shim"), which are null when it is not loaded.
 *
 * - Spans belong to the calling thread and nest: viztrace_span_end() ends the innermost span
 *   that thread began. An end without a begin is ignored (and counted in the report); spans
 *   still open when their thread or program ends are closed there, marked unfinished.
 * - args of viztrace_instant: NULL, or space-separated "key=value" items ("key=users n=3");
 *   values that are decimal integers become numbers in the report, the others strings.
 * - Names are cut at 256 bytes, args at 512 bytes (whole items). Each call is one write to
 *   viztrace's pipe, a few microseconds.
 * - Calls are safe from any thread and from signal handlers, and keep errno. C99 or C++11.
 * - viztrace_thread_name names a thread's track in the report only (its kernel name is left
 *   alone); the main thread's track is the process's and keeps the program's name.
 * - Code built without -fPIC/-fPIE (gcc -fno-pie, for a non-PIE executable): the linker turns
 *   a weak reference that nothing defines at link time into 0 for good, so there the header
 *   finds the shim with dlsym(RTLD_DEFAULT) instead, once per translation unit, from a
 *   constructor before main (glibc 2.34 and later have dlsym in libc; older ones need -ldl).
 *   A call made before that constructor ran (from another constructor) looks the shim up
 *   itself and is not async-signal-safe. PIE executables (the default on Debian, Ubuntu,
 *   Fedora) and shared libraries never call dlsym.
 */
#ifndef VIZTRACE_H
#define VIZTRACE_H

#if defined(__GNUC__) || defined(__clang__)
#define VIZTRACE_ENABLED_ 1
#else
#define VIZTRACE_ENABLED_ 0 /* weak references need GCC or Clang: the calls do nothing */
#endif

#if VIZTRACE_ENABLED_ && !defined(__PIC__) && !defined(__PIE__)
#include <dlfcn.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if VIZTRACE_ENABLED_

/* The shim's side, private to viztrace: call the viztrace_* functions below instead. */
void viztrace_shim_span_begin(const char* name) __attribute__((weak));
void viztrace_shim_span_end(void) __attribute__((weak));
void viztrace_shim_instant(const char* name, const char* args) __attribute__((weak));
void viztrace_shim_counter(const char* name, double value) __attribute__((weak));
void viztrace_shim_thread_name(const char* name) __attribute__((weak));

#if defined(__PIC__) || defined(__PIE__)
/* Position-independent code reaches the functions through the GOT, which the loader fills in
 * when the shim is preloaded and leaves null otherwise. */
#define VIZTRACE_IMPL_(fn) (fn)
#else
struct viztrace_impl_table_ {
  void (*viztrace_shim_span_begin)(const char*);
  void (*viztrace_shim_span_end)(void);
  void (*viztrace_shim_instant)(const char*, const char*);
  void (*viztrace_shim_counter)(const char*, double);
  void (*viztrace_shim_thread_name)(const char*);
};
static struct viztrace_impl_table_ viztrace_impl_;
static int viztrace_impl_ready_;

/* RTLD_DEFAULT is a null handle in glibc and musl; spelled out so that _GNU_SOURCE is not
 * needed. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define VIZTRACE_RTLD_DEFAULT_ nullptr
#elif defined(__cplusplus)
#define VIZTRACE_RTLD_DEFAULT_ 0
#else
#define VIZTRACE_RTLD_DEFAULT_ ((void*)0)
#endif
#define VIZTRACE_FIND_(fn)                                            \
  do {                                                                \
    union {                                                           \
      void* p;                                                        \
      __typeof__(viztrace_impl_.fn) f;                                \
    } found_;                                                         \
    found_.p = dlsym(VIZTRACE_RTLD_DEFAULT_, #fn);                    \
    __atomic_store_n(&viztrace_impl_.fn, found_.f, __ATOMIC_RELAXED); \
  } while (0)

static inline void viztrace_impl_resolve_(void) {
  if (__atomic_load_n(&viztrace_impl_ready_, __ATOMIC_ACQUIRE)) return;
  VIZTRACE_FIND_(viztrace_shim_span_begin);
  VIZTRACE_FIND_(viztrace_shim_span_end);
  VIZTRACE_FIND_(viztrace_shim_instant);
  VIZTRACE_FIND_(viztrace_shim_counter);
  VIZTRACE_FIND_(viztrace_shim_thread_name);
  __atomic_store_n(&viztrace_impl_ready_, 1, __ATOMIC_RELEASE);
}

/* Before main: afterwards a call is a load and a branch, safe in signal handlers. */
__attribute__((constructor)) static void viztrace_impl_at_start_(void) {
  viztrace_impl_resolve_();
}

#define VIZTRACE_IMPL_(fn) \
  (viztrace_impl_resolve_(), __atomic_load_n(&viztrace_impl_.fn, __ATOMIC_RELAXED))
#endif /* __PIC__ || __PIE__ */

/* A span named `name` begins on the calling thread. */
static inline void viztrace_span_begin(const char* name) {
  void (*f)(const char*) = VIZTRACE_IMPL_(viztrace_shim_span_begin);
  if (f) f(name);
}

/* The calling thread's innermost open span ends. */
static inline void viztrace_span_end(void) {
  void (*f)(void) = VIZTRACE_IMPL_(viztrace_shim_span_end);
  if (f) f();
}

/* A moment on the calling thread; args: NULL or "key=value key2=value2". */
static inline void viztrace_instant(const char* name, const char* args) {
  void (*f)(const char*, const char*) = VIZTRACE_IMPL_(viztrace_shim_instant);
  if (f) f(name, args);
}

/* A sample of the counter `name` (one track per name, whichever process sends it). */
static inline void viztrace_counter(const char* name, double value) {
  void (*f)(const char*, double) = VIZTRACE_IMPL_(viztrace_shim_counter);
  if (f) f(name, value);
}

/* Names the calling thread's track in the report (not the main thread's; see above). */
static inline void viztrace_thread_name(const char* name) {
  void (*f)(const char*) = VIZTRACE_IMPL_(viztrace_shim_thread_name);
  if (f) f(name);
}

#else /* !VIZTRACE_ENABLED_ */

static inline void viztrace_span_begin(const char* name) {
  (void)name;
}
static inline void viztrace_span_end(void) {}
static inline void viztrace_instant(const char* name, const char* args) {
  (void)name;
  (void)args;
}
static inline void viztrace_counter(const char* name, double value) {
  (void)name;
  (void)value;
}
static inline void viztrace_thread_name(const char* name) {
  (void)name;
}

#endif /* VIZTRACE_ENABLED_ */

#ifdef __cplusplus
} /* extern "C" */

namespace viztrace {

/* A span over a scope: begins when constructed, ends when destroyed (exceptions included). */
class Span {
 public:
  explicit Span(const char* name) noexcept { viztrace_span_begin(name); }
  ~Span() { viztrace_span_end(); }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
};

}  // namespace viztrace

#define VIZTRACE_CONCAT2_(a, b) a##b
#define VIZTRACE_CONCAT_(a, b) VIZTRACE_CONCAT2_(a, b)
/* A span named `name` from here to the end of the enclosing scope. */
#define VIZTRACE_SPAN(name) ::viztrace::Span VIZTRACE_CONCAT_(viztrace_span_, __COUNTER__)(name)
#endif /* __cplusplus */

#endif /* VIZTRACE_H */
