// The annotation API the shim exports (shim.version): what include/viztrace.h's inline
// functions call through weak references, and what `viztrace mark|span|counter` find with
// dlsym. Not for direct use: these names and signatures are the shim's side of viztrace.h and
// change with it.
//
// Each call is one chunk written through the FIFO, from any thread or signal handler, with
// errno kept; nothing happens when this process is not traced.
#include "shim/tracer.h"

#define VT_EXPORT extern "C" __attribute__((visibility("default")))

using namespace vt_shim;

VT_EXPORT void viztrace_shim_span_begin(const char* name) {
  if (tracing()) emit_span_begin(name);
}

VT_EXPORT void viztrace_shim_span_end(void) {
  if (tracing()) emit_span_end(AnnotationArgs{nullptr, nullptr});
}

// args: null, or "key=value key2=value2".
VT_EXPORT void viztrace_shim_instant(const char* name, const char* args) {
  if (tracing()) emit_mark(name, AnnotationArgs{args, nullptr}, false);
}

VT_EXPORT void viztrace_shim_counter(const char* name, double value) {
  if (tracing()) emit_counter(name, value);
}

VT_EXPORT void viztrace_shim_thread_name(const char* name) {
  if (tracing()) name_thread(name);
}

// For the viztrace command line, whose values may hold spaces: args is a null-terminated list
// of "key=value" items (or null).
VT_EXPORT void viztrace_shim_global_mark(const char* name, const char* const* args) {
  if (tracing()) emit_mark(name, AnnotationArgs{nullptr, args}, true);
}

VT_EXPORT void viztrace_shim_span_end_args(const char* const* args) {
  if (tracing()) emit_span_end(AnnotationArgs{nullptr, args});
}
