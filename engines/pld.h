/* pld.h — the n-gram drafters of prompt lookup decoding (engines/pld.c),
 * exposed for tests. */
#ifndef DECOBENCH_PLD_H
#define DECOBENCH_PLD_H

#include "harness/model/model.h"

/* Draft up to k tokens from the most recent earlier occurrence of the last n
 * tokens of seq (n = ngram_max down to ngram_min); returns the count. */
int db_pld_lookup(const db_token *seq, int n_seq, int ngram_min, int ngram_max, int k, db_token *draft);

/* llama-lookup's context n-gram cache (n-grams of 1..DB_NGRAM_CACHE_MAX tokens). */
#define DB_NGRAM_CACHE_MAX 4
typedef struct db_ngram_cache db_ngram_cache;
db_ngram_cache *db_ngram_cache_new(int ngram_min, int ngram_max);   /* NULL: bad sizes or no memory */
void db_ngram_cache_free(db_ngram_cache *c);
/* Bytes the table holds (slots and next-token lists, allocated capacity). */
size_t db_ngram_cache_bytes(const db_ngram_cache *c);
/* Count the n-grams ending at tokens of seq not counted yet (seq only grows). */
int  db_ngram_cache_update(db_ngram_cache *c, const db_token *seq, int n_seq);
/* Draft up to k tokens continuing seq; returns the count (0: no confident draft). */
int  db_ngram_cache_draft(const db_ngram_cache *c, const db_token *seq, int n_seq, int k, db_token *draft);

#endif
