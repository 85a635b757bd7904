// The items of a map job made from inputs named by paths: files, the files of folders, or the
// lines of files; shared by the shell's `map` and the C API's velum_map_inputs_collect.
#ifndef VELUM_NODE_MAP_INPUTS_H_
#define VELUM_NODE_MAP_INPUTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "node/node.h"

namespace velum {

// Item bytes held in the coordinator's memory (lines, or bytes given by an embedding program),
// at most, per job; larger inputs should be files, which travel by content.
inline constexpr uint64_t kMaxMapInlineBytes = 64ull << 20;

// Appends the items of `inputs` to *items: each regular file by its own name, a folder's
// files by their paths under it in byte order (subfolders only if `recursive`); with `lines`,
// each line of each of those files instead (newline included, named FILE:N, output
// NNNNNNNN.out). An error names the problem in one line: kIo (an input missing, not a file or
// folder, unreadable), kLimitExceeded (too many items, too many bytes of lines).
Status CollectMapItems(const std::vector<std::string>& inputs, bool lines, bool recursive,
                       std::vector<MapItem>* items);

}  // namespace velum

#endif  // VELUM_NODE_MAP_INPUTS_H_
