#include "common/env_doctor.h"

#include <string.h>

namespace vt_shim {
namespace {

constexpr char kPreload[] = "LD_PRELOAD=";
constexpr char kAsan[] = "ASAN_OPTIONS=";
constexpr char kAsanOption[] = "verify_asan_link_order=0";

bool starts_with(const char* s, const char* prefix, size_t n) { return strncmp(s, prefix, n) == 0; }

// "NAME=" of an entry, including the '='; 0 when there is no '='.
size_t name_length(const char* entry) {
  const char* eq = strchr(entry, '=');
  return eq ? static_cast<size_t>(eq - entry) + 1 : 0;
}

bool same_name(const char* entry, const char* other) {
  size_t n = name_length(other);
  return n && strncmp(entry, other, n) == 0;
}

// "<name><value>:<extra>", or "<name><extra>" when value is empty; false when it does not fit.
bool append_item(char* out, size_t size, const char* name, const char* value, const char* extra) {
  size_t ln = strlen(name), lv = value ? strlen(value) : 0, le = strlen(extra);
  if (ln + lv + 1 + le + 1 > size) return false;
  char* p = out;
  memcpy(p, name, ln), p += ln;
  if (lv) memcpy(p, value, lv), p += lv, *p++ = ':';
  memcpy(p, extra, le + 1);
  return true;
}

bool is_more(const char* entry, const EnvValues& v) {
  for (size_t k = 0; k < kMoreEntries; ++k)
    if (v.more[k] && same_name(entry, v.more[k])) return true;
  return false;
}

}  // namespace

size_t env_count(char* const* envp) noexcept {
  size_t n = 0;
  while (envp && envp[n]) ++n;
  return n;
}

bool preload_lists(const char* value, const char* path) noexcept {
  size_t len = strlen(path);
  const char* p = value;
  while (*p) {
    while (*p == ':' || *p == ' ') ++p;
    const char* end = p;
    while (*end && *end != ':' && *end != ' ') ++end;
    if (static_cast<size_t>(end - p) == len && len && strncmp(p, path, len) == 0) return true;
    p = end;
  }
  return false;
}

char* const* doctor_env(char* const* envp, const EnvValues& v, EnvScratch& s,
                        bool claim) noexcept {
  size_t n = env_count(envp);
  if (n > kMaxEnvEntries || s.slot_count < n + kExtraSlots) return envp;

  const char* preload = nullptr;  // existing LD_PRELOAD value
  const char* asan = nullptr;     // existing ASAN_OPTIONS value
  // getenv() in the new image takes the first entry of a name: every one must be ours.
  int fifo = 0, shim = 0;  // 0: absent, 1: all ours, -1: one is stale
  int more[kMoreEntries] = {};
  bool other_session = false;  // the first VIZTRACE_FIFO names another session's FIFO
  for (size_t i = 0; i < n; ++i) {
    const char* e = envp[i];
    for (size_t k = 0; k < kMoreEntries; ++k)
      if (v.more[k] && same_name(e, v.more[k]))
        more[k] = more[k] >= 0 && strcmp(e, v.more[k]) == 0 ? 1 : -1;
    if (starts_with(e, kPreload, sizeof kPreload - 1)) {
      preload = e + sizeof kPreload - 1;  // ld.so honours the last one
    } else if (starts_with(e, kAsan, sizeof kAsan - 1)) {
      if (!asan) asan = e + sizeof kAsan - 1;
    }
    if (same_name(e, v.fifo_entry)) {
      if (fifo == 0) other_session = strcmp(e, v.fifo_entry) != 0;
      fifo = fifo >= 0 && strcmp(e, v.fifo_entry) == 0 ? 1 : -1;
    }
    else if (same_name(e, v.shim_entry))
      shim = shim >= 0 && strcmp(e, v.shim_entry) == 0 ? 1 : -1;
  }
  bool preload_ok = preload && preload_lists(preload, v.shim_path);
  bool asan_ok = asan && strstr(asan, "verify_asan_link_order") != nullptr;
  bool more_ok = true;
  for (size_t k = 0; k < kMoreEntries; ++k) more_ok = more_ok && (!v.more[k] || more[k] == 1);
  if (fifo == 1 && shim == 1 && preload_ok && asan_ok && more_ok) return envp;
  // A viztrace run inside a traced run starts its own session: its environment is its own.
  if (other_session && !claim) return envp;

  // The user's preloads stay first (a sanitizer runtime must come first); ours goes last.
  char* new_preload = nullptr;
  if (!preload_ok) {
    if (!append_item(s.preload, s.preload_size, kPreload, preload, v.shim_path)) return envp;
    new_preload = s.preload;
  }
  char* new_asan = nullptr;
  if (!asan_ok) {
    if (!append_item(s.asan, s.asan_size, kAsan, asan, kAsanOption)) return envp;
    new_asan = s.asan;
  }

  size_t out = 0;
  bool preload_seen = false, asan_seen = false;
  for (size_t i = 0; i < n; ++i) {
    char* e = envp[i];
    if (starts_with(e, kPreload, sizeof kPreload - 1)) {
      // Rewritten: one entry, the one the loader reads; duplicates would only mislead getenv.
      if (new_preload) {
        if (preload_seen) continue;
        e = new_preload;
      }
      preload_seen = true;
    } else if (starts_with(e, kAsan, sizeof kAsan - 1)) {
      if (!asan_seen && new_asan) e = new_asan;
      asan_seen = true;
    } else if (same_name(e, v.fifo_entry) || same_name(e, v.shim_entry) || is_more(e, v)) {
      continue;  // replaced below
    }
    s.slots[out++] = e;
  }
  for (size_t k = 0; k < kMoreEntries; ++k)
    if (v.more[k]) s.slots[out++] = const_cast<char*>(v.more[k]);
  if (!preload_seen && new_preload) s.slots[out++] = new_preload;
  if (!asan_seen && new_asan) s.slots[out++] = new_asan;
  s.slots[out++] = const_cast<char*>(v.fifo_entry);
  s.slots[out++] = const_cast<char*>(v.shim_entry);
  s.slots[out] = nullptr;
  return s.slots;
}

}  // namespace vt_shim
