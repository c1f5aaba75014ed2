/* stack.c - the stack identity hash (spec/original-engine.md §9.2). */
#include "model/stack.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"

static void digest_str(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s, strlen(s));
}

static void digest_nul(EVP_MD_CTX *md)
{
    EVP_DigestUpdate(md, "", 1);
}

static int compare_strings(const void *a, const void *b)
{
    /* strcmp order on UTF-8 bytes is code-point order, as Python's sorted(). */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void digest_inputs(EVP_MD_CTX *md, json_t *inputs)
{
    size_t n = json_object_size(inputs), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(inputs, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof *keys, compare_strings);
    for (i = 0; i < n; i++) {
        const char *value = json_string_value(json_object_get(inputs, keys[i]));
        digest_str(md, keys[i]);
        digest_str(md, "=");
        digest_str(md, value ? value : "");
        digest_nul(md);
    }
    free(keys);
}

static void digest_file(EVP_MD_CTX *md, const char *path, json_t *missing)
{
    char *expanded = fs_expand_home(path), *data = NULL;
    size_t len = 0;
    digest_str(md, path);
    digest_nul(md);
    if (fs_read_file(expanded, &data, &len) == 0) {
        EVP_DigestUpdate(md, data, len);
    } else if (errno == ENOENT) {
        digest_str(md, "<missing>");
        if (missing)
            json_array_append_new(missing, json_string(path));
    } else {
        char *msg = xasprintf("<error:%s>", strerror(errno));
        digest_str(md, msg);
        free(msg);
    }
    digest_nul(md);
    free(data);
    free(expanded);
}

void stack_hash(json_t *stack, char out[STACK_HASH_LEN + 1], json_t *missing)
{
    const char *name = json_string_value(json_object_get(stack, "name"));
    const char *prep = json_string_value(json_object_get(stack, "prep"));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort(); /* out of memory, as xmalloc would */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    digest_str(md, "name=");
    digest_str(md, name ? name : "");
    digest_nul(md);
    digest_str(md, "prep=");
    digest_str(md, prep ? prep : "");
    digest_nul(md);
    digest_str(md, "inputs=");
    digest_inputs(md, json_object_get(stack, "inputs"));
    digest_nul(md);
    digest_str(md, "files=");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(stack, "input_files"), i, f)
    {
        if (json_is_string(f))
            digest_file(md, json_string_value(f), missing);
    }
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int sum_len = 0;
    EVP_DigestFinal_ex(md, sum, &sum_len);
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < STACK_HASH_LEN / 2; k++) {
        out[2 * k] = hex[sum[k] >> 4];
        out[2 * k + 1] = hex[sum[k] & 15];
    }
    out[STACK_HASH_LEN] = '\0';
}

void stack_hash_all(json_t *stacks, bool warn)
{
    size_t i, j;
    json_t *st, *path;
    json_array_foreach(stacks, i, st)
    {
        char hash[STACK_HASH_LEN + 1];
        json_t *missing = json_array();
        stack_hash(st, hash, missing);
        json_object_set_new(st, "hash", json_string(hash));
        json_array_foreach(missing, j, path)
        {
            if (warn)
                log_warn("stack '%s': input file %s does not exist; it is hashed as <missing> "
                         "(create it, or remove it from input_files)",
                         json_string_value(json_object_get(st, "name")), json_string_value(path));
        }
        json_decref(missing);
    }
}
