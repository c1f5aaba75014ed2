/* backend_snapshot.c - per-backend snapshot files written by the engine and
 * read by `backend list/status` (see backend_snapshot.h). */
#include "core/backend_snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

static char *snapshot_path(const char *data_dir, const char *name)
{
    char *enc = fs_encode_name(name);
    char *p = xasprintf("%s/backends/%s.json", data_dir, enc);
    free(enc);
    return p;
}

int backend_snapshot_write(const char *data_dir, const char *name, json_t *snap, char **last)
{
    /* Compared without a time stamp, so an idle backend writes nothing. */
    char *text = json_dumps(snap, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text)
        return -1;
    if (*last && !strcmp(*last, text)) {
        free(text);
        return 0;
    }
    json_t *stamped = json_deep_copy(snap);
    char iso[ISO8601_LEN];
    json_object_set_new(stamped, "updated_at", json_string(time_format_iso(time_now_us(), iso)));
    char *out = json_dumps(stamped, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(stamped);
    char *dir = xasprintf("%s/backends", data_dir);
    char *path = snapshot_path(data_dir, name);
    int rc = out && fs_mkdir_p(dir, 0700) == 0 && fs_write_atomic(path, out, strlen(out), 0600) == 0
                 ? 0
                 : -1;
    free(dir);
    free(path);
    free(out);
    if (rc == 0) {
        free(*last);
        *last = text;
    } else {
        free(text);
    }
    return rc;
}

json_t *backend_snapshot_read(const char *data_dir, const char *name)
{
    char *path = snapshot_path(data_dir, name);
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}
