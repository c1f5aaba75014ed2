/* replay_main.c - without libFuzzer (GCC builds), a fuzz target runs as a
 * plain test over its checked-in corpus: every file in the directories given
 * on the command line is fed to LLVMFuzzerTestOneInput once. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open corpus %s\n", dir);
        return -1;
    }
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, ent->d_name);
        char *data = NULL;
        size_t len = 0;
        if (fs_read_file(path, &data, &len) == 0) {
            LLVMFuzzerTestOneInput((const uint8_t *)data, len);
            n++;
        }
        free(data);
        free(path);
    }
    closedir(d);
    printf("replayed %d inputs from %s\n", n, dir);
    return n;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int n = replay_dir(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs: an empty corpus tests nothing\n");
        return 1;
    }
    return 0;
}
