/* textmetrics.h — reference-based text metrics computed in C so every engine
 * is scored the same way: ROUGE-2 F1, sentence BLEU (Chen & Cherry 2014
 * smoothing method 1), distinct-n, self-BLEU, and numeric answer match
 * (GSM8K "#### N" references).
 *
 * Tokenization (all metrics): ASCII letters are lowercased; a token is a
 * maximal run of letters/digits (and any byte >= 0x80, so UTF-8 words stay
 * whole), or one other non-space character (punctuation).  "The cat's mat."
 * -> the cat ' s mat .
 *
 * ROUGE-2: bigram overlap (clipped counts) between candidate and reference;
 * P = overlap / candidate bigrams, R = overlap / reference bigrams,
 * F = 2PR / (P + R); 0 when either side has no bigram or nothing overlaps.
 *
 * Sentence BLEU: BLEU-4 with uniform weights against one or more references
 * (counts clipped by the maximum count in any reference; effective reference
 * length = the reference length closest to the candidate's, the shorter on
 * ties; brevity penalty exp(1 - r/c) when c < r).  Smoothing method 1 of Chen
 * & Cherry (2014), as NLTK's SmoothingFunction().method1 with epsilon 0.1:
 * a precision whose match count is 0 becomes 0.1 / (candidate n-grams).  An
 * order with no candidate n-gram at all (candidate shorter than n) makes the
 * score 0, and an empty candidate scores 0.
 *
 * distinct-n: distinct n-grams / total n-grams over a set of texts (0 when
 * there is no n-gram).  self-BLEU: the mean over texts of the sentence BLEU
 * of each text against all the others as references (Zhu et al. 2018).
 */
#ifndef DECOBENCH_TEXTMETRICS_H
#define DECOBENCH_TEXTMETRICS_H

#ifdef __cplusplus
extern "C" {
#endif

#define DB_BLEU_EPSILON 0.1

double db_rouge2_f(const char *candidate, const char *reference);
double db_sentence_bleu(const char *candidate, const char *const *references, int n_references);
double db_distinct_n(const char *const *texts, int n_texts, int n);
/* NaN for fewer than two texts. */
double db_self_bleu(const char *const *texts, int n_texts);

/* The last number in text ("1,234", "-3.5"; commas dropped) parsed into *out.
 * Returns 1 when found, 0 when text holds no number. */
int db_last_number(const char *text, double *out);
/* GSM8K-style answer check: 1 when the last number of output equals the
 * number after the reference's last "####" (GSM8K's final-answer line),
 * 0 when it differs or output has none, -1 when reference has no "####"
 * followed by a number (not a question with a numeric answer). */
int db_answer_match(const char *output, const char *reference);

#ifdef __cplusplus
}
#endif
#endif
