/* sha256.c — the SHA-256 of a file or a buffer as lowercase hex, with libcrypto
 * (OpenSSL's EVP interface): suites pin their model and dataset files by
 * it, runs record it, and self-spec keys its derived drafts by it.
 */
#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int db_sha256_file(const char *path, char hex[65], char *err, size_t errlen) {
    hex[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return db_errf(err, errlen, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        fclose(f);
        return db_errf(err, errlen, "%s: sha256: libcrypto initialisation failed", path);
    }
    unsigned char *buf = malloc(1 << 20);
    if (!buf) {
        EVP_MD_CTX_free(md);
        fclose(f);
        return db_errf(err, errlen, "%s: out of memory", path);
    }
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0)
        if (EVP_DigestUpdate(md, buf, n) != 1) ok = 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    free(buf);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (ok && EVP_DigestFinal_ex(md, digest, &dlen) != 1) ok = 0;
    EVP_MD_CTX_free(md);
    if (rerr) return db_errf(err, errlen, "%s: read error: %s", path, strerror(rerr));
    if (!ok || dlen != 32) return db_errf(err, errlen, "%s: sha256 failed", path);
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

int db_sha256_buf(const void *data, size_t len, char hex[65]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    hex[0] = 0;
    if (EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL) != 1 || dl != 32) return -1;
    for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}
