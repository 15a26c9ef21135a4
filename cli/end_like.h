// How viztrace ends when it stands in for a command it ran (`viztrace run`, `viztrace span`).
#pragma once

namespace viztrace::cli {

// Ends viztrace the way the command ended (a raw wait status), so a shell reacts to us as to the
// command: the same exit code, or death by the same signal when its default action is just to
// terminate (bash stops a script when a child died of SIGINT). Core-dumping signals become
// 128+N, so viztrace does not dump a core of its own. Flushes stdio first.
[[noreturn]] void end_like(int wait_status);

}  // namespace viztrace::cli
