// embed_cpp: the same as embed.c with velum.hpp: a Mesh object, a Job followed with progress,
// a Task, and errors as exceptions.
//   embed_cpp ID PORT HOME CLUSTER_KEY JOIN_HOST:PORT WASM_DIR
#include <cstdio>
#include <cstdlib>
#include <string>
#include <velum/velum.hpp>

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: embed_cpp ID PORT HOME CLUSTER_KEY JOIN_HOST:PORT WASM_DIR\n");
    return 2;
  }
  std::string wasm = argv[6];
  try {
    velum::Options options;
    options.node_id = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
    options.port = static_cast<uint16_t>(std::strtoul(argv[2], nullptr, 10));
    options.home = argv[3];
    options.cluster_key = argv[4];
    options.joins = {argv[5]};
    options.broadcast = false;
    options.discovery_port = 0;
    options.bind = options.advertise = "127.0.0.1";
    velum::Mesh mesh(options);
    mesh.WaitPeers(1, std::chrono::seconds(20));

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
