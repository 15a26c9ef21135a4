#include "report/model/libdw.h"

#ifdef VIZTRACE_HAVE_LIBDW
#include <dlfcn.h>

#include <type_traits>

namespace viztrace::report {

const LibDw* libdw() {
  static const LibDw* const loaded = []() -> const LibDw* {
    void* handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return nullptr;
    static LibDw f;
    bool ok = true;
    auto get = [&](auto& slot, const char* name) {
      slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(handle, name));
      ok = ok && slot != nullptr;
    };
#define VIZTRACE_LIBDW_GET(fn) get(f.fn, #fn)
    VIZTRACE_LIBDW_GET(elf_version);
    VIZTRACE_LIBDW_GET(elf_begin);
    VIZTRACE_LIBDW_GET(elf_end);
    VIZTRACE_LIBDW_GET(elf_cntl);
    VIZTRACE_LIBDW_GET(elf_getphdrnum);
    VIZTRACE_LIBDW_GET(gelf_getphdr);
    VIZTRACE_LIBDW_GET(gelf_getehdr);
    VIZTRACE_LIBDW_GET(dwarf_begin_elf);
    VIZTRACE_LIBDW_GET(dwarf_end);
    VIZTRACE_LIBDW_GET(dwarf_getsrc_die);
    VIZTRACE_LIBDW_GET(dwarf_linesrc);
    VIZTRACE_LIBDW_GET(dwarf_lineno);
    VIZTRACE_LIBDW_GET(dwarf_addrdie);
    VIZTRACE_LIBDW_GET(dwarf_get_units);
    VIZTRACE_LIBDW_GET(dwarf_haspc);
    VIZTRACE_LIBDW_GET(dwarf_getscopes);
    VIZTRACE_LIBDW_GET(dwarf_getscopes_die);
    VIZTRACE_LIBDW_GET(dwarf_tag);
    VIZTRACE_LIBDW_GET(dwarf_attr_integrate);
    VIZTRACE_LIBDW_GET(dwarf_formstring);
    VIZTRACE_LIBDW_GET(dwarf_formudata);
    VIZTRACE_LIBDW_GET(dwarf_getsrcfiles);
    VIZTRACE_LIBDW_GET(dwarf_filesrc);
    VIZTRACE_LIBDW_GET(dwfl_begin);
    VIZTRACE_LIBDW_GET(dwfl_end);
    VIZTRACE_LIBDW_GET(dwfl_report_begin_add);
    VIZTRACE_LIBDW_GET(dwfl_report_elf);
    VIZTRACE_LIBDW_GET(dwfl_report_end);
    VIZTRACE_LIBDW_GET(dwfl_attach_state);
    VIZTRACE_LIBDW_GET(dwfl_getthread_frames);
    VIZTRACE_LIBDW_GET(dwfl_frame_pc);
    VIZTRACE_LIBDW_GET(dwfl_thread_state_registers);
    VIZTRACE_LIBDW_GET(dwfl_offline_section_address);
    VIZTRACE_LIBDW_GET(dwfl_errno);
    VIZTRACE_LIBDW_GET(dwfl_errmsg);
#undef VIZTRACE_LIBDW_GET
    if (!ok || f.elf_version(EV_CURRENT) == EV_NONE) return nullptr;
    return &f;
  }();
  return loaded;
}

}  // namespace viztrace::report
#endif
