/* corpus_docs.h — the documents of a JSONL training corpus ({"text": ...}
 * per line) in a seeded order, shared by the tokenizer trainer
 * (bpe_train.c) and the model trainer (train.c) so both read corpora alike. */
#ifndef DECOBENCH_CORPUS_DOCS_H
#define DECOBENCH_CORPUS_DOCS_H

#include <stddef.h>
#include <stdint.h>

/* Read every document of path, then shuffle them (Fisher-Yates on
 * db_rng_make(seed, stream)).  On success *docs holds *n_docs malloc'd
 * strings (free with corpus_docs_free) and 0 is returned; otherwise one
 * error line "PROG: path[:line]: problem" is printed and -1 returned (an
 * empty corpus is an error). */
int corpus_docs_read(const char *prog, const char *path, uint64_t seed, uint64_t stream, char ***docs,
                     size_t *n_docs);
void corpus_docs_free(char **docs, size_t n_docs);

#endif
