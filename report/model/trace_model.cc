#include "report/model/trace_model.h"

#include <cstring>

namespace viztrace::report {
std::string exe_flag_names(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, const char*> kNames[] = {
      {VT_EXE_STATIC, "static"},         {VT_EXE_GO, "go"},
      {VT_EXE_SETUID, "setuid"},         {VT_EXE_SCRIPT, "script"},
      {VT_EXE_UNREADABLE, "unreadable"}, {VT_EXE_FOREIGN, "foreign"},
      {VT_EXE_UNPROBED, "unprobed"}};
  std::string out;
  for (auto [bit, name] : kNames)
    if (flags & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

std::string basename_of(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::size_t slash = path.rfind('/');
  if (slash != std::string_view::npos && path.size() > 1) path.remove_prefix(slash + 1);
  return std::string(path);
}

std::string Image::name() const {
  // The shim's exe is the file exec'd as the exec call named it (AT_EXECFN); /proc's is the
  // interpreter of a script. A descriptor's path (fexecve) names no file.
  auto names_a_file = [](std::string_view p) {
    return !p.empty() && !p.starts_with("/dev/fd/") && !p.starts_with("/proc/self/fd/");
  };
  if (exe_as_execed && names_a_file(exe)) return basename_of(exe);
  if (names_a_file(path)) return basename_of(path);
  if (!argv.empty() && !argv[0].empty()) return basename_of(argv[0]);
  if (!exe.empty()) return basename_of(exe);
  if (!path.empty()) return basename_of(path);
  return {};
}

std::string Process::name() const {
  std::string n = images.empty() ? std::string() : images.back().name();
  return n.empty() ? "pid " + std::to_string(pid) : n;
}

std::uint64_t TraceModel::thread_count() const {
  std::uint64_t n = 0;
  for (const Process& p : processes) n += 1 + p.threads.size();
  return n;
}

std::optional<ArgvCut> argv_cut_of(std::string_view bytes, bool present) {
  vt_argv_cut cut;
  if (!present || bytes.size() < sizeof cut) return std::nullopt;
  std::memcpy(&cut, bytes.data(), sizeof cut);
  return ArgvCut{cut.arguments, cut.bytes};
}

TraceModel::NotEntered TraceModel::not_entered() const {
  NotEntered n;
  for (const Process& p : processes)
    for (const Image& im : p.images) {
      if (im.traced) continue;
      ++n.total;
      if (im.exe_flags & (VT_EXE_STATIC | VT_EXE_FOREIGN)) ++n.static_binary;
      else if (im.exe_flags & VT_EXE_SETUID) ++n.setuid;
      else ++n.other;
    }
  return n;
}

std::vector<std::string> split_argv(std::string_view bytes) {
  std::vector<std::string> out;
  while (!bytes.empty()) {
    std::size_t nul = bytes.find('\0');
    out.emplace_back(bytes.substr(0, nul));
    if (nul == std::string_view::npos) break;
    bytes.remove_prefix(nul + 1);
  }
  return out;
}

}  // namespace viztrace::report
