// ModuleHistory: announcements of modules into the time each module was mapped, and
// ImageModules::find and era for addresses that held two modules in turn.
#include "report/model/module_map.h"

#include <catch2/catch.hpp>

using namespace viztrace::report;

namespace {

constexpr std::uint64_t kKey = 42;
const Module kExe{0x1000, 0x1000, 0x5000, "/bin/prog"};
const Module kA{0x7000, 0x7000, 0x8000, "/lib/liba.so"};
const Module kB{0x7000, 0x7000, 0x8000, "/lib/libb.so"};

void announce(ModuleHistory& h, std::uint64_t ts, std::initializer_list<Module> modules) {
  for (const Module& m : modules) h.add(kKey, ts, m);
}

std::string path_at(const ImageModules& image, std::uint64_t addr, std::uint64_t ts) {
  const Module* m = image.find(addr, ts);
  return m ? m->path : "";
}

}  // namespace

TEST_CASE("module map: modules that never changed hold their addresses at all times") {
  ModuleHistory h;
  announce(h, 100, {kExe, kA});
  announce(h, 200, {kExe, kA});  // a later check that found nothing new
  ModuleMap map = h.modules();
  const ImageModules& image = map.at(kKey);
  REQUIRE(image.modules.size() == 2);
  for (const Module& m : image.modules) {
    CHECK(m.from == 0);
    CHECK(m.until == UINT64_MAX);
  }
  CHECK(image.contested.empty());
  CHECK(image.changes.empty());
  CHECK(path_at(image, 0x7100, 5) == "/lib/liba.so");
  CHECK(path_at(image, 0x2000, 1000) == "/bin/prog");
  CHECK(path_at(image, 0x6000, 150).empty());
  CHECK(image.era(0x7100, 5) == image.era(0x7100, 1000));
}

TEST_CASE("module map: a library closed and another loaded at its address each keep their time") {
  // liba.so is closed between 100 and 200; libb.so loaded after 200 where it was; then liba.so
  // again after 400. The announcements come in any order.
  ModuleHistory h;
  announce(h, 300, {kExe, kB});
  announce(h, 100, {kExe, kA});
  announce(h, 500, {kExe, kA});
  announce(h, 200, {kExe});
  announce(h, 400, {kExe});
  ModuleMap map = h.modules();
  const ImageModules& image = map.at(kKey);
  REQUIRE(image.modules.size() == 4);  // prog, liba.so twice, libb.so

  // Calls before an announcement belong to what it lists; between a close and the next load,
  // to the library loaded next (its constructors run before the loader returns).
  CHECK(path_at(image, 0x7100, 50) == "/lib/liba.so");
  CHECK(path_at(image, 0x7100, 150) == "/lib/liba.so");
  CHECK(path_at(image, 0x7100, 250) == "/lib/libb.so");
  CHECK(path_at(image, 0x7100, 350) == "/lib/libb.so");
  CHECK(path_at(image, 0x7100, 450) == "/lib/liba.so");
  CHECK(path_at(image, 0x7100, 9999) == "/lib/liba.so");
  CHECK(path_at(image, 0x2000, 250) == "/bin/prog");

  REQUIRE(image.contested.size() == 1);
  CHECK(image.contested[0] == std::pair<std::uint64_t, std::uint64_t>{0x7000, 0x8000});
  CHECK(image.changes == std::vector<std::uint64_t>{200, 400});
  // Records of one era at one address are of one module; the executable has one era.
  CHECK(image.era(0x7100, 150) != image.era(0x7100, 250));
  CHECK(image.era(0x7100, 250) == image.era(0x7100, 350));
  CHECK(image.era(0x7100, 350) != image.era(0x7100, 450));
  CHECK(image.era(0x2000, 150) == image.era(0x2000, 450));
}

TEST_CASE("module map: images are kept apart") {
  ModuleHistory h;
  h.add(1, 100, kA);
  h.add(2, 100, kB);
  ModuleMap map = h.modules();
  CHECK(path_at(map.at(1), 0x7100, 100) == "/lib/liba.so");
  CHECK(path_at(map.at(2), 0x7100, 100) == "/lib/libb.so");
  CHECK(map.at(1).contested.empty());
}
