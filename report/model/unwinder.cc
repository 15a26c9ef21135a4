#include "report/model/unwinder.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#ifdef VIZTRACE_HAVE_LIBDW
#include "report/model/libdw.h"
#endif

namespace viztrace::report {
namespace {

constexpr std::uint64_t kPageMask = ~std::uint64_t{4095};

bool read_exact(int fd, std::uint64_t offset, void* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, static_cast<char*>(out) + done, size - done,
                      static_cast<off_t>(offset + done));
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool ElfSegments::bias(const std::string& path, std::uint64_t start, std::uint64_t pgoff,
                       std::uint64_t& out) {
  auto [it, fresh] = files_.try_emplace(path);
  std::vector<Segment>& segments = it->second;
  if (fresh) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      Elf64_Ehdr eh;
      if (read_exact(fd, 0, &eh, sizeof eh) && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
          eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
          eh.e_phnum < 4096) {
        std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
        if (read_exact(fd, eh.e_phoff, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr)))
          for (const Elf64_Phdr& ph : phdrs)
            if (ph.p_type == PT_LOAD)
              segments.push_back({ph.p_offset & kPageMask, ph.p_vaddr & kPageMask});
      }
      close(fd);
    }
  }
  for (const Segment& s : segments)
    if (s.offset == pgoff) {
      out = start - s.vaddr;
      return true;
    }
  return false;
}

#ifdef VIZTRACE_HAVE_LIBDW
// libdw's view of the image: its files reported as modules, and the sample being unwound.
struct Unwinder::State {
  const LibDw* dw = nullptr;
  Dwfl* dwfl = nullptr;
  bool attached = false;
  std::set<std::pair<std::string, std::uint64_t>> reported;  // (path, bias)
  Dwfl_Callbacks callbacks = {};
  Dwfl_Thread_Callbacks thread_callbacks = {};
  // The sample being unwound.
  const std::uint64_t* regs = nullptr;
  std::size_t nregs = 0;
  const unsigned char* stack = nullptr;
  std::size_t stack_size = 0;
  std::uint64_t sp = 0;
  bool read_past_copy = false;
  std::vector<std::uint64_t>* pcs = nullptr;

  ~State() {
    if (dwfl) dw->dwfl_end(dwfl);
  }
};

namespace {

pid_t next_thread(Dwfl*, void*, void**) { return 0; }

// No separate debug files: unwinding needs the call frame information, which every file has in
// its .eh_frame, and libdw would read (and decompress) a whole separate debug file again for
// every process image that maps its object.
int no_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*,
                 GElf_Word, char**) {
  return -1;
}

bool get_thread(Dwfl*, pid_t, void* dwfl_arg, void** thread_argp) {
  *thread_argp = dwfl_arg;
  return true;
}

bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  auto* s = static_cast<Unwinder::State*>(arg);
  if (addr >= s->sp && addr - s->sp <= s->stack_size && s->stack_size - (addr - s->sp) >= 8) {
    std::memcpy(result, s->stack + (addr - s->sp), 8);
    return true;
  }
  // Above the copy, within what a bigger copy would have had: the copy was too small.
  if (addr >= s->sp + s->stack_size && addr - s->sp < (64u << 20)) s->read_past_copy = true;
  return false;
}

bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  auto* s = static_cast<Unwinder::State*>(arg);
  return s->dw->dwfl_thread_state_registers(thread, 0, static_cast<unsigned>(s->nregs), s->regs);
}

int take_frame(Dwfl_Frame* frame, void* arg) {
  auto* s = static_cast<Unwinder::State*>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!s->dw->dwfl_frame_pc(frame, &pc, &activation)) return DWARF_CB_ABORT;
  // A return address is past its call: the call is the byte before.
  s->pcs->push_back(activation || pc == 0 ? pc : pc - 1);
  return s->pcs->size() >= Unwinder::kMaxFrames ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace
#else
struct Unwinder::State {};
#endif

Unwinder::Unwinder() = default;
Unwinder::~Unwinder() = default;

void Unwinder::add(const Mapping& mapping) {
  auto at = std::upper_bound(mappings_.begin(), mappings_.end(), mapping.start,
                             [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  mappings_.insert(at, mapping);
  unreported_ = true;
}

const Mapping* Unwinder::find(std::uint64_t addr) const {
  auto next = std::upper_bound(mappings_.begin(), mappings_.end(), addr,
                               [](std::uint64_t a, const Mapping& m) { return a < m.start; });
  // The latest mapping at an address wins: look back past ones it overlaps.
  for (auto it = next; it != mappings_.begin();) {
    --it;
    if (addr < it->end) return &*it;
    if (next - it > 4) break;
  }
  return nullptr;
}

UnwindResult Unwinder::unwind(pid_t tid, const std::uint64_t* regs, std::size_t nregs,
                              const unsigned char* stack, std::size_t stack_size,
                              std::vector<std::uint64_t>& pcs) {
  pcs.clear();
  UnwindResult result;
  constexpr std::size_t kSp = 7, kIp = 16;  // x86-64 DWARF register numbers
  if (nregs <= kIp) return result;
  pcs.push_back(regs[kIp]);  // the stack when nothing more can be found
#ifdef VIZTRACE_HAVE_LIBDW
  if (!state_) {
    state_ = std::make_unique<State>();
    state_->dw = libdw();
    if (state_->dw) {
      state_->callbacks.find_debuginfo = no_debuginfo;
      state_->callbacks.section_address = state_->dw->dwfl_offline_section_address;
      state_->dwfl = state_->dw->dwfl_begin(&state_->callbacks);
      state_->thread_callbacks.next_thread = next_thread;
      state_->thread_callbacks.get_thread = get_thread;
      state_->thread_callbacks.memory_read = memory_read;
      state_->thread_callbacks.set_initial_registers = set_initial_registers;
    }
  }
  State& s = *state_;
  if (s.dwfl == nullptr) return result;
  // Files mapped since the last unwind become modules.
  if (unreported_) {
    s.dw->dwfl_report_begin_add(s.dwfl);
    for (const Mapping& m : mappings_)
      if (s.reported.emplace(m.path, m.bias).second)
        s.dw->dwfl_report_elf(s.dwfl, m.path.c_str(), m.path.c_str(), -1, m.bias, true);
    s.dw->dwfl_report_end(s.dwfl, nullptr, nullptr);
    unreported_ = false;
  }
  if (!s.attached) {
    if (!s.dw->dwfl_attach_state(s.dwfl, nullptr, tid, &s.thread_callbacks, &s)) return result;
    s.attached = true;
  }
  s.regs = regs;
  s.nregs = nregs;
  s.stack = stack;
  s.stack_size = stack_size;
  s.sp = regs[kSp];
  s.read_past_copy = false;
  s.pcs = &pcs;
  pcs.clear();
  int rc = s.dw->dwfl_getthread_frames(s.dwfl, tid, take_frame, &s);
  if (pcs.empty()) pcs.push_back(regs[kIp]);
  result.copy_too_small = rc != 0 && s.read_past_copy;
  // libdw may report the end of a stack as an error: an unwind that ended in a known file
  // without running out of copy is taken as whole.
  result.complete = rc == 0 || (rc == -1 && !s.read_past_copy && pcs.size() > 1 &&
                                find(pcs.back()) != nullptr);
#else
  (void)tid;
  (void)stack;
  (void)stack_size;
#endif
  return result;
}

}  // namespace viztrace::report
