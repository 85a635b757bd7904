// embed_cpp: the same as embed.c with velum.hpp: a Mesh object, a Job followed with progress,
// a Task, and errors as exceptions. The same options as embed (embed_args.h; --help).
//   embed_cpp --id N [--port P] [--local] [--join HOST:PORT]... [--peers K] ... WASM_DIR
#include <cstdio>
#include <string>
#include <velum/velum.hpp>

#include "embed_args.h"

int main(int argc, char** argv) {
  embed_args args;
  int exit_code = embed_parse_args(argc, argv, &args);
  if (exit_code >= 0) return exit_code;
  const velum_options& c = args.options;
  std::string wasm = args.wasm_dir;
  try {
    velum::Options options;
    options.node_id = c.node_id;
    options.port = c.port;
    options.discovery_port = c.discovery_port;
    options.broadcast = c.broadcast;
    if (c.home) options.home = c.home;
    if (c.bind) options.bind = c.bind;
    if (c.advertise) options.advertise = c.advertise;
    if (c.cluster_key) options.cluster_key = c.cluster_key;
    options.joins.assign(c.joins, c.joins + c.njoins);
    options.beacons.assign(c.beacons, c.beacons + c.nbeacons);
    velum::Mesh mesh(options);
    mesh.WaitPeers(args.peers, std::chrono::milliseconds(args.wait_ms));

    velum::Job job = mesh.Scatter(wasm + "/primes.wasm", "count_primes", 0, 500000);
    while (job.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
      std::printf("  %.0f%%\n", job.progress() * 100);
    velum::Result primes = job.get();
    std::printf("c++ scatter count_primes [0, 500000): %lld (job %llu, %.1f ms, %u workers)\n",
                static_cast<long long>(primes.integer()),
                static_cast<unsigned long long>(primes->job), primes->elapsed_ms, primes->workers);

    velum::Task task = mesh.Run(wasm + "/sum.wasm", "sum", {"10", "20", "30"});
    velum::Result sum = task.get();
    std::printf("c++ wasm sum 10 20 30: %lld (node %u)\n", static_cast<long long>(sum.integer()),
                sum->node);

    int code = 0;
    try {
      mesh.Call(wasm + "/sum.wasm", "no_such_export");
    } catch (const velum::Error& e) {
      code = e.code();
      std::printf("c++ error case: %s (%d): %s\n", velum_strerror(e.code()), e.code(), e.what());
    }
    bool ok =
        primes.integer() == 41538 && sum.integer() == 60 && code == VELUM_ERR_EXPORT_NOT_FOUND;
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
  } catch (const velum::Error& e) {
    std::fprintf(stderr, "embed_cpp: %s (%s)\n", e.what(), velum_strerror(e.code()));
    return 1;
  }
}
