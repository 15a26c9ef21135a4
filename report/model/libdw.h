// libdw and libelf (elfutils), loaded when a report first needs them, not linked: linked, their
// four libraries cost every viztrace command ~1.3 ms of start-up (viztrace mark and span run once
// per step of a CI script), and most commands never read DWARF. Source lines of functions
// (report/model/symbolizer.cc) and the unwinding of sampled stacks (report/model/unwinder.cc)
// use them. Only in builds with VIZTRACE_HAVE_LIBDW.
#pragma once

#ifdef VIZTRACE_HAVE_LIBDW
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <libelf.h>

namespace viztrace::report {

struct LibDw {
  decltype(&::elf_version) elf_version;
  decltype(&::elf_begin) elf_begin;
  decltype(&::elf_end) elf_end;
  decltype(&::elf_cntl) elf_cntl;
  decltype(&::elf_getphdrnum) elf_getphdrnum;
  decltype(&::gelf_getphdr) gelf_getphdr;
  decltype(&::gelf_getehdr) gelf_getehdr;
  decltype(&::dwarf_begin_elf) dwarf_begin_elf;
  decltype(&::dwarf_end) dwarf_end;
  decltype(&::dwarf_getsrc_die) dwarf_getsrc_die;
  decltype(&::dwarf_linesrc) dwarf_linesrc;
  decltype(&::dwarf_lineno) dwarf_lineno;
  decltype(&::dwarf_addrdie) dwarf_addrdie;
  decltype(&::dwarf_get_units) dwarf_get_units;
  decltype(&::dwarf_haspc) dwarf_haspc;
  decltype(&::dwarf_getscopes) dwarf_getscopes;
  decltype(&::dwarf_getscopes_die) dwarf_getscopes_die;
  decltype(&::dwarf_tag) dwarf_tag;
  decltype(&::dwarf_attr_integrate) dwarf_attr_integrate;
  decltype(&::dwarf_formstring) dwarf_formstring;
  decltype(&::dwarf_formudata) dwarf_formudata;
  decltype(&::dwarf_getsrcfiles) dwarf_getsrcfiles;
  decltype(&::dwarf_filesrc) dwarf_filesrc;
  decltype(&::dwfl_begin) dwfl_begin;
  decltype(&::dwfl_end) dwfl_end;
  decltype(&::dwfl_report_begin_add) dwfl_report_begin_add;
  decltype(&::dwfl_report_elf) dwfl_report_elf;
  decltype(&::dwfl_report_end) dwfl_report_end;
  decltype(&::dwfl_attach_state) dwfl_attach_state;
  decltype(&::dwfl_getthread_frames) dwfl_getthread_frames;
  decltype(&::dwfl_frame_pc) dwfl_frame_pc;
  decltype(&::dwfl_thread_state_registers) dwfl_thread_state_registers;
  decltype(&::dwfl_offline_section_address) dwfl_offline_section_address;
  decltype(&::dwfl_errno) dwfl_errno;
  decltype(&::dwfl_errmsg) dwfl_errmsg;
};

// Null when libdw.so.1 is not installed (or lacks a function): then there are no source lines,
// and sampled stacks have their first frame only.
const LibDw* libdw();

}  // namespace viztrace::report
#endif
