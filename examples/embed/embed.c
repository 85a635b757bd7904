/* embed: a C program that embeds a VelumOS node through libvelum (find_package(velum)).
 * It joins the mesh, waits for peers, scatters count_primes, runs sum once and shows an error.
 *
 *   embed --id N [--port P] [--local] [--join HOST:PORT]... [--peers K] ... WASM_DIR
 *
 * (embed --help lists every option; embed_args.h parses them, for embed_cpp too.) Exits 0
 * when every answer is the expected one (41538 primes below 500000, sum 10 20 30 = 60, an
 * unknown export refused), 1 otherwise, 2 on a command line that cannot run. */
#include <stdio.h>
#include <velum/velum.h>

#include "embed_args.h"

static void print_value(const velum_value* v) {
  switch (v->type) {
    case VELUM_I32:
      printf("%d", v->as.i32);
      break;
    case VELUM_I64:
      printf("%lld", (long long)v->as.i64);
      break;
    case VELUM_F32:
      printf("%g", v->as.f32);
      break;
    case VELUM_F64:
      printf("%g", v->as.f64);
      break;
  }
}

static long long int_value(const velum_result* r) {
  if (r->nvalues < 1) return -1;
  if (r->values[0].type == VELUM_I32) return r->values[0].as.i32;
  if (r->values[0].type == VELUM_I64) return r->values[0].as.i64;
  return -1;
}

int main(int argc, char** argv) {
  embed_args cli;
  int exit_code = embed_parse_args(argc, argv, &cli);
  if (exit_code >= 0) return exit_code;
  const size_t peers = cli.peers;
  const int wait_ms = (int)cli.wait_ms;
  char primes[4096], sum[4096];
  snprintf(primes, sizeof primes, "%s/primes.wasm", cli.wasm_dir);
  snprintf(sum, sizeof sum, "%s/sum.wasm", cli.wasm_dir);

  if (velum_init_with(&cli.options) != VELUM_OK) {
    fprintf(stderr, "embed: cannot start the node: %s\n", velum_last_error());
    return 1;
  }
  printf("node %u started; waiting for %zu peer(s)\n", velum_node_id(), peers);
  if (velum_wait_peers(peers, wait_ms) != VELUM_OK) {
    fprintf(stderr, "embed: %s\n", velum_last_error());
    velum_shutdown();
    return 1;
  }
  printf("peers alive: %zu\n", velum_peers_alive());
  int failures = 0;

  /* One export over a range, on every live node: per-run figures come with the result. */
  velum_result r = velum_spawn_wasm_distributed(primes, "count_primes", 0, 500000);
  if (r.code != VELUM_OK) {
    fprintf(stderr, "embed: scatter failed: %s (%s)\n", r.error, velum_strerror(r.code));
    failures++;
  } else {
    char detection[32] = "none";
    if (r.detection_ms >= 0)
      snprintf(detection, sizeof detection, "%lld ms", (long long)r.detection_ms);
    printf("scatter count_primes [0, 500000): ");
    print_value(&r.values[0]);
    printf(
        "\n  job %llu: %.1f ms, %llu chunks on %u worker(s), reassigned %llu, recomputed %llu,"
        " stale reports %llu, failure detection %s\n",
        (unsigned long long)r.job, r.elapsed_ms, (unsigned long long)r.chunks, r.workers,
        (unsigned long long)r.reassigned, (unsigned long long)r.recomputed,
        (unsigned long long)r.stale_reports, detection);
    if (int_value(&r) != 41538) {
      fprintf(stderr, "embed: expected 41538 primes\n");
      failures++;
    }
  }

  /* One call on the best peer; arguments are typed by the export's signature. */
  const char* args[] = {"10", "20", "30"};
  r = velum_spawn_wasm(sum, "sum", 3, args);
  if (r.code != VELUM_OK) {
    fprintf(stderr, "embed: wasm failed: %s\n", r.error);
    failures++;
  } else {
    printf("wasm sum 10 20 30: ");
    print_value(&r.values[0]);
    printf(" (node %u, %.2f ms, %s)\n", r.node, r.elapsed_ms, r.engine);
    if (int_value(&r) != 60) {
      fprintf(stderr, "embed: expected 60\n");
      failures++;
    }
  }

  /* An error: a code and one line saying why. */
  r = velum_spawn_wasm(sum, "no_such_export", 0, NULL);
  printf("error case: %s (%d): %s\n", velum_strerror(r.code), r.code, r.error);
  if (r.code != VELUM_ERR_EXPORT_NOT_FOUND) {
    fprintf(stderr, "embed: expected VELUM_ERR_EXPORT_NOT_FOUND\n");
    failures++;
  }

  velum_shutdown();
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
