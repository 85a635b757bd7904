/* embed_args.h: the command line of both embedding examples (embed.c and embed_cpp.cc), so the
 * two take the same options the same way, as ./node spells them. Plain C, header-only. */
#ifndef VELUM_EXAMPLES_EMBED_ARGS_H
#define VELUM_EXAMPLES_EMBED_ARGS_H

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <velum/velum.h>

#define EMBED_MAX_ADDRESSES 8

/* What the command line asked for. `options.joins` and `options.beacons` point into this
 * struct: use it where it was parsed, do not copy it. */
typedef struct embed_args {
  velum_options options;
  const char* joins[EMBED_MAX_ADDRESSES];
  const char* beacons[EMBED_MAX_ADDRESSES];
  unsigned long peers;   /* peers to wait for before the first job; default 1 */
  unsigned long wait_ms; /* how long to wait for them; default 20000 */
  const char* wasm_dir;  /* holds primes.wasm and sum.wasm (build/wasm of the VelumOS build) */
} embed_args;

static void embed_usage(FILE* out, const char* program) {
  fprintf(out,
          "usage: %s --id N [OPTIONS] WASM_DIR\n"
          "Joins the VelumOS mesh as node N, waits for peers, scatters count_primes over\n"
          "[0, 500000), runs sum 10 20 30 once and shows an error case. WASM_DIR holds\n"
          "primes.wasm and sum.wasm (build/wasm of the VelumOS build).\n"
          "\n"
          "  --id N                this node's id, unique in the mesh (required)\n"
          "  --port P              TCP and gossip port (default and 0: 8000+N)\n"
          "  --local               loopback only: bind and advertise 127.0.0.1, no broadcast\n"
          "  --bind A              address to listen on (default 0.0.0.0)\n"
          "  --advertise A         address peers reach this node at\n"
          "  --join HOST:PORT      a seed, repeatable (up to %d)\n"
          "  --beacon HOST:PORT    an extra unicast beacon target, repeatable (up to %d)\n"
          "  --discovery-port U    UDP beacon port (default 8888; 0: none)\n"
          "  --no-broadcast        no beacons to the LAN\n"
          "  --home DIR            home directory (default $VELUM_HOME or ~/.velum)\n"
          "  --cluster-key FILE    cluster key (default HOME/cluster.key)\n"
          "  --peers K             peers to wait for before the first job (default 1)\n"
          "  --wait-ms MS          how long to wait for them (default 20000)\n"
          "  -h, --help            this help\n"
          "\n"
          "Exit codes: 0 every answer as expected; 1 a failure; 2 the command line cannot run.\n",
          program, EMBED_MAX_ADDRESSES, EMBED_MAX_ADDRESSES);
}

/* A whole decimal number in [min, max], or 0 after saying why on stderr. */
static int embed_parse_number(const char* program, const char* flag, const char* text,
                              unsigned long min, unsigned long max, unsigned long* out) {
  char* end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE || v < min || v > max) {
    fprintf(stderr, "%s: %s wants a whole number in [%lu, %lu], not '%s'\n", program, flag, min,
            max, text);
    return 0;
  }
  *out = (unsigned long)v;
  return 1;
}

/* HOST:PORT with a host and a port in [1, 65535], or 0 after saying why on stderr. */
static int embed_check_address(const char* program, const char* flag, const char* text) {
  const char* colon = strrchr(text, ':');
  unsigned long port = 0;
  if (colon == NULL || colon == text) {
    fprintf(stderr, "%s: %s wants HOST:PORT, not '%s'\n", program, flag, text);
    return 0;
  }
  return embed_parse_number(program, flag, colon + 1, 1, 65535, &port);
}

/* Parses argv into `a`. Returns -1 to go on, or the exit code to leave with: 0 after --help,
 * 2 after a command line that cannot run (with one line saying why, then the usage). */
static int embed_parse_args(int argc, char** argv, embed_args* a) {
  const char* program = argc > 0 ? argv[0] : "embed";
  memset(a, 0, sizeof *a);
  velum_options_default(&a->options);
  a->peers = 1;
  a->wait_ms = 20000;
  static const struct option longopts[] = {{"id", required_argument, 0, 'i'},
                                           {"port", required_argument, 0, 'p'},
                                           {"local", no_argument, 0, 'l'},
                                           {"bind", required_argument, 0, 'B'},
                                           {"advertise", required_argument, 0, 'a'},
                                           {"join", required_argument, 0, 'j'},
                                           {"beacon", required_argument, 0, 'b'},
                                           {"discovery-port", required_argument, 0, 'd'},
                                           {"no-broadcast", no_argument, 0, 'n'},
                                           {"home", required_argument, 0, 'H'},
                                           {"cluster-key", required_argument, 0, 'k'},
                                           {"peers", required_argument, 0, 'P'},
                                           {"wait-ms", required_argument, 0, 'w'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  unsigned long n = 0;
  int local = 0, c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
      case 'h':
        embed_usage(stdout, program);
        return 0;
      case 'i':
        if (!embed_parse_number(program, "--id", optarg, 1, 0xffffffffUL, &n)) goto bad;
        a->options.node_id = (uint32_t)n;
        break;
      case 'p':
        if (!embed_parse_number(program, "--port", optarg, 0, 65535, &n)) goto bad;
        a->options.port = (uint16_t)n;
        break;
      case 'd':
        if (!embed_parse_number(program, "--discovery-port", optarg, 0, 65535, &n)) goto bad;
        a->options.discovery_port = (uint16_t)n;
        break;
      case 'P':
        if (!embed_parse_number(program, "--peers", optarg, 0, 1000000, &a->peers)) goto bad;
        break;
      case 'w':
        if (!embed_parse_number(program, "--wait-ms", optarg, 0, 86400000UL, &a->wait_ms)) goto bad;
        break;
      case 'l':
        local = 1;
        break;
      case 'B':
        a->options.bind = optarg;
        break;
      case 'a':
        a->options.advertise = optarg;
        break;
      case 'H':
        a->options.home = optarg;
        break;
      case 'k':
        a->options.cluster_key = optarg;
        break;
      case 'n':
        a->options.broadcast = false;
        break;
      case 'j':
      case 'b': {
        size_t* count = c == 'j' ? &a->options.njoins : &a->options.nbeacons;
        const char** list = c == 'j' ? a->joins : a->beacons;
        if (*count == EMBED_MAX_ADDRESSES) {
          fprintf(stderr, "%s: at most %d %s addresses\n", program, EMBED_MAX_ADDRESSES,
                  c == 'j' ? "--join" : "--beacon");
          goto bad;
        }
        if (!embed_check_address(program, c == 'j' ? "--join" : "--beacon", optarg)) goto bad;
        list[(*count)++] = optarg;
        break;
      }
      default: /* getopt_long has said what was wrong */
        goto bad;
    }
  }
  if (a->options.node_id == 0) {
    fprintf(stderr, "%s: --id N is required\n", program);
    goto bad;
  }
  if (optind != argc - 1) {
    fprintf(stderr, "%s: %s\n", program,
            optind == argc ? "WASM_DIR is missing" : "one WASM_DIR, after the options");
    goto bad;
  }
  if (local) {
    if (a->options.bind || a->options.advertise) {
      fprintf(stderr, "%s: --local sets the addresses: no --bind or --advertise with it\n",
              program);
      goto bad;
    }
    a->options.bind = a->options.advertise = "127.0.0.1";
    a->options.broadcast = false;
  }
  a->options.joins = a->joins;
  a->options.beacons = a->beacons;
  a->wasm_dir = argv[optind];
  return -1;
bad:
  embed_usage(stderr, program);
  return 2;
}

#endif /* VELUM_EXAMPLES_EMBED_ARGS_H */
