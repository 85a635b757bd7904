// The cluster key: 32 random bytes shared by every node of a mesh, like Erlang's cookie.
// Created on first start at $VELUM_HOME/cluster.key (mode 0600); copied to other machines.
#ifndef VELUM_NET_CLUSTER_KEY_H_
#define VELUM_NET_CLUSTER_KEY_H_

#include <array>
#include <cstdint>
#include <filesystem>

#include "runtime/error.h"

namespace velum::net {

using ClusterKey = std::array<uint8_t, 32>;

// Reads the key at `path`, creating it with fresh random bytes if it does not exist.
// Refuses a key file of the wrong size or readable by others.
Result<ClusterKey> LoadOrCreateClusterKey(const std::filesystem::path& path);

// Reads an existing key (--cluster-key FILE).
Result<ClusterKey> LoadClusterKey(const std::filesystem::path& path);

}  // namespace velum::net

#endif  // VELUM_NET_CLUSTER_KEY_H_
