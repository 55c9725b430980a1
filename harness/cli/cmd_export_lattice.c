/* cmd_export_lattice.c — `decobench export-lattice`: run the lattice engine
 * (engines/lattice.c) on one prompt and write the lattice as Graphviz DOT.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/model/model.h"
#include "harness/util/outfile.h"
#include "harness/util/util.h"
#include "engines/engine.h"
#include "engines/lattice.h"

static void usage(FILE *f) {
    fputs("usage: decobench export-lattice (--model FILE.gguf | --exact SPEC) --prompt TEXT\n"
          "                                [--param NAME=VALUE]... [--max-new-tokens N]\n"
          "                                [--threads N] [-o FILE] [--help]\n"
          "\n"
          "Run the lattice engine (best-first search with recombination) on one prompt and\n"
          "write the lattice as Graphviz DOT: one node per token (terminal nodes double\n"
          "circles), edges labelled with log-probabilities, the best path in red.\n"
          "Render with e.g. 'dot -Tsvg lattice.dot > lattice.svg'.\n"
          "\n"
          "  --model FILE        GGUF model (llama.cpp backend)\n"
          "  --exact SPEC        the analytic exact backend, e.g. vocab=16,order=2,seed=3,eos_bias=0\n"
          "  --prompt TEXT       prompt text (BOS added as the model asks)\n"
          "  -p, --param K=V     lattice parameter (budget, ngram, expand_k, length_norm, max_len,\n"
          "                      slots, oracle_paths; see 'decobench list'); repeatable\n"
          "  --max-new-tokens N  longest path (default 32)\n"
          "  --threads N         decode threads (default: backend default)\n"
          "  -o, --output FILE   write to FILE instead of stdout (- = stdout; a file is replaced\n"
          "                      atomically, a device or FIFO written through: man decobench)\n"
          "  -h, --help          show this help\n", f);
}

int cmd_export_lattice(int argc, char **argv) {
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },
        { "exact", required_argument, NULL, 'e' },
        { "prompt", required_argument, NULL, 'P' },
        { "param", required_argument, NULL, 'p' },
        { "max-new-tokens", required_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 't' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const db_engine *e = db_engine_find("lattice");
    db_params params;
    db_params_defaults(&params, e->params, e->n_params);
    const char *model_path = NULL, *exact = NULL, *prompt = NULL, *out_path = NULL;
    int max_new = 32, threads = 0;
    uint64_t v;
    char err[512];
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'e': exact = optarg; break;
        case 'P': prompt = optarg; break;
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "decobench export-lattice: --param: expected NAME=VALUE, got '%s'\n", optarg);
                return 2;
            }
            *eq = 0;
            if (db_params_set(&params, optarg, eq + 1, err, sizeof err) != 0) {
                fprintf(stderr, "decobench export-lattice: --param: %s\n", err);
                return 2;
            }
            break;
        }
        case 'n':
            if (db_parse_u64(optarg, &v) != 0 || v < 1 || v > 65536) {
                fprintf(stderr, "decobench export-lattice: --max-new-tokens: expected an integer in [1, 65536], got '%s'\n", optarg);
                return 2;
            }
            max_new = (int)v;
            break;
        case 't':
            if (db_parse_u64(optarg, &v) != 0 || v > 1024) {
                fprintf(stderr, "decobench export-lattice: --threads: expected an integer in [0, 1024], got '%s'\n", optarg);
                return 2;
            }
            threads = (int)v;
            break;
        case 'o': out_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default:   /* ':' (missing value) or '?' (unknown option) */
            return db_cli_bad_option("export-lattice", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "decobench export-lattice: %s: unexpected argument\n", argv[optind]);
        return 2;
    }
    if (!!model_path == !!exact) {
        fprintf(stderr, "decobench export-lattice: give exactly one of --model and --exact\n");
        return 2;
    }
    if (!prompt || !*prompt) {
        fprintf(stderr, "decobench export-lattice: --prompt: required, non-empty\n");
        return 2;
    }
    if (model_path && !db_file_exists(model_path)) {
        fprintf(stderr, "decobench export-lattice: %s: no such model file\n", model_path);
        return 2;
    }
    db_model_params mp = db_model_default_params();
    mp.backend = exact ? "exact" : "llama";
    mp.path = model_path;
    mp.exact_spec = exact;
    mp.n_threads = mp.n_threads_batch = threads;
    int n_prompt_cap = (int)strlen(prompt) + 8;
    mp.n_seq_max = e->n_seq_max(&params);
    /* one KV cache shared by all slots: the prompt once, a path per slot */
    mp.n_ctx = n_prompt_cap + mp.n_seq_max * (max_new + 1) + 8;
    mp.n_batch = mp.n_ctx;
    db_llama_set_quiet(true);
    db_model *m = NULL;
    if (db_model_open(&mp, &m, err, sizeof err) != 0) {
        fprintf(stderr, "decobench export-lattice: %s: %s\n", model_path ? model_path : exact, err);
        return 2;
    }
    db_token *toks = malloc(sizeof *toks * (size_t)n_prompt_cap);
    int n = toks ? db_model_tokenize(m, prompt, strlen(prompt), true, true, toks, n_prompt_cap) : -1;
    if (n < 1) {
        fprintf(stderr, "decobench export-lattice: --prompt: could not tokenize\n");
        free(toks);
        db_model_close(m);
        return 2;
    }
    db_event_log log;
    db_event_log_init(&log);
    db_event_log_start(&log);
    db_gen_request req = { .target = m, .prompt = toks, .n_prompt = n, .max_new_tokens = max_new,
                           .stop_at_eog = true, .seed = 1, .params = &params, .events = &log };
    db_lattice lat;
    int status = 0;
    if (db_lattice_build(&req, &lat, err, sizeof err) != 0) {
        fprintf(stderr, "decobench export-lattice: %s\n", err);
        status = 1;
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!mem || db_lattice_write_dot(&lat, m, mem) != 0) {
            fprintf(stderr, "decobench export-lattice: out of memory writing DOT\n");
            status = 1;
        }
        if (mem) fclose(mem);
        if (status == 0 && db_deliver_output(out_path, buf, len, err, sizeof err) != 0) {
            fprintf(stderr, "decobench export-lattice: %s\n", err);
            status = 1;
        }
        if (status == 0)
            fprintf(stderr, "lattice: %d nodes, %d edges, %.0f complete paths, %d model calls, %d merges\n",
                    lat.n_nodes, lat.n_edges, lat.n_complete_paths, lat.calls, lat.merges);
        free(buf);
        db_lattice_free(&lat);
    }
    db_event_log_free(&log);
    free(toks);
    db_model_close(m);
    return status;
}
