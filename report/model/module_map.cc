#include "report/model/module_map.h"

#include <algorithm>
#include <iterator>

namespace viztrace::report {

const Module* ImageModules::find(std::uint64_t addr, std::uint64_t ts) const {
  const Module* best = nullptr;
  std::uint64_t best_distance = UINT64_MAX;
  auto consider = [&](const Module& m) {
    const std::uint64_t distance = ts < m.from ? m.from - ts : ts >= m.until ? ts - m.until + 1 : 0;
    // Mapped then (distance 0) wins; among equals, the one loaded last.
    if (!best || distance < best_distance || (distance == best_distance && m.from >= best->from)) {
      best = &m;
      best_distance = distance;
    }
  };
  for (const std::vector<std::uint32_t>& object : loads) {
    if (object.empty()) continue;
    const Module& any = modules[object.front()];
    if (addr < any.low || addr >= any.high) continue;
    // An object's loads do not overlap in time: the nearest is the last to begin at or before
    // ts, or the one after it.
    auto after =
        std::upper_bound(object.begin(), object.end(), ts,
                         [&](std::uint64_t t, std::uint32_t i) { return t < modules[i].from; });
    if (after != object.end()) consider(modules[*after]);
    if (after != object.begin()) consider(modules[*std::prev(after)]);
  }
  return best;
}

std::uint32_t ImageModules::era(std::uint64_t addr, std::uint64_t ts) const {
  if (contested.empty()) return 0;
  auto range = std::upper_bound(contested.begin(), contested.end(),
                                std::pair<std::uint64_t, std::uint64_t>{addr, UINT64_MAX});
  if (range == contested.begin() || addr >= std::prev(range)->second) return 0;
  return static_cast<std::uint32_t>(std::upper_bound(changes.begin(), changes.end(), ts) -
                                    changes.begin());
}

void ModuleHistory::add(std::uint64_t key, std::uint64_t ts, const Module& module) {
  Image& image = images_[key];
  Identity id{module.low, module.high, module.bias, module.path};
  auto [it, added] = image.index.emplace(std::move(id), image.distinct.size());
  if (added) {
    image.distinct.push_back(module);
    image.distinct.back().from = 0;
    image.distinct.back().until = UINT64_MAX;
  }
  image.announcements[ts].push_back(it->second);
}

ModuleMap ModuleHistory::modules() const {
  ModuleMap out;
  for (const auto& [key, image] : images_) {
    ImageModules& result = out[key];
    // Each distinct module's stretches of consecutive announcements become one Module each.
    const std::size_t n = image.distinct.size();
    result.loads.resize(n);
    std::vector<bool> open(n, false);  // listed by the last announcement: loads[d].back() runs on
    std::vector<std::uint64_t> listed_at(n, UINT64_MAX);
    std::uint64_t previous = 0;
    bool first = true;
    for (const auto& [ts, listed] : image.announcements) {
      for (std::uint32_t d : listed) {
        listed_at[d] = ts;
        if (open[d]) continue;
        open[d] = true;
        result.loads[d].push_back(static_cast<std::uint32_t>(result.modules.size()));
        result.modules.push_back(image.distinct[d]);
        result.modules.back().from = first ? 0 : previous;
      }
      for (std::size_t d = 0; d < n; ++d) {
        if (!open[d] || listed_at[d] == ts) continue;
        result.modules[result.loads[d].back()].until = ts;
        open[d] = false;
      }
      previous = ts;
      first = false;
    }
    // Ranges that two modules held: merged runs of overlapping modules with more than one.
    std::vector<const Module*> by_low;
    for (const Module& m : result.modules) by_low.push_back(&m);
    std::sort(by_low.begin(), by_low.end(),
              [](const Module* a, const Module* b) { return a->low < b->low; });
    for (std::size_t i = 0; i < by_low.size();) {
      std::size_t j = i + 1;
      std::uint64_t high = by_low[i]->high;
      for (; j < by_low.size() && by_low[j]->low < high; ++j)
        high = std::max(high, by_low[j]->high);
      if (j - i > 1) {
        result.contested.emplace_back(by_low[i]->low, high);
        for (std::size_t k = i; k < j; ++k) {
          if (by_low[k]->from != 0) result.changes.push_back(by_low[k]->from);
          if (by_low[k]->until != UINT64_MAX) result.changes.push_back(by_low[k]->until);
        }
      }
      i = j;
    }
    std::sort(result.changes.begin(), result.changes.end());
    result.changes.erase(std::unique(result.changes.begin(), result.changes.end()),
                         result.changes.end());
  }
  return out;
}

}  // namespace viztrace::report
