/* stack.h - a stack's identity: the content hash that names its directory.
 *
 * The hash is SHA-256 over the same canonical bytes as the original tool
 * (spec/original-engine.md §9.2), cut to 12 lowercase hex characters, so a
 * stack directory built by the Python tool is recognised as ready.  Only
 * name, prep, inputs and the input files take part: resources, init and
 * cache_dir can change without a rebuild. */
#ifndef SCRIPTHUT_MODEL_STACK_H
#define SCRIPTHUT_MODEL_STACK_H
#include <jansson.h>
#include <stdbool.h>

#define STACK_HASH_LEN 12

/* The hash of a stack object ({"name","prep","inputs","input_files"}).
 * Input files are read now; a missing one hashes as "<missing>" and, when
 * `missing` is not NULL, its path is appended to that array. */
void stack_hash(json_t *stack, char out[STACK_HASH_LEN + 1], json_t *missing);

/* Sets "hash" on every stack of the config's list.  With warn, prints a
 * warning naming the stack and each missing input file. */
void stack_hash_all(json_t *stacks, bool warn);

#endif
