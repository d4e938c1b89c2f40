/* Resources: reference-counted lists of named files, frozen once shared. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmaccel/bundle.h"

#include "internal.h"

struct file {
    char *name;
    void *data;
    size_t len;
};

struct vmaccel_resource {
    vmaccel_ctx *ctx;
    uint64_t id;
    vmaccel_resource_type type;
    atomic_int refs;
    atomic_bool frozen;
    char *path;
    struct file files[VMACCEL_RESOURCE_MAX_FILES];
    size_t n_files;
};

vmaccel_ctx *vmaccel__resource_ctx(const vmaccel_resource *r) {
    return r->ctx;
}

void vmaccel__resource_freeze(vmaccel_resource *r) {
    atomic_store(&r->frozen, true);
}

int vmaccel_resource_new(vmaccel_ctx *ctx, vmaccel_resource_type type,
                         vmaccel_resource **out) {
    if (!ctx || !out || type < VMACCEL_RESOURCE_BLOB || type > VMACCEL_RESOURCE_LIBRARY)
        return -EINVAL;
    vmaccel_resource *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->ctx = ctx;
    r->type = type;
    r->id = atomic_fetch_add(&ctx->next_id, 1);
    atomic_init(&r->refs, 1);
    atomic_init(&r->frozen, false);
    atomic_fetch_add(&ctx->live_objects, 1);
    *out = r;
    return 0;
}

static int name_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= VMACCEL_RESOURCE_NAME_MAX && !strchr(name, '/') &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int vmaccel_resource_add_file(vmaccel_resource *r, const char *name,
                              const void *data, size_t len) {
    if (!r || !name_valid(name) || (!data && len))
        return -EINVAL;
    if (atomic_load(&r->frozen))
        return -EBUSY;
    if (r->type == VMACCEL_RESOURCE_LIBRARY)
        return -EINVAL; /* a library is a name, not bytes */
    if (r->type == VMACCEL_RESOURCE_BLOB && r->n_files == 1)
        return -E2BIG;
    if (r->n_files == VMACCEL_RESOURCE_MAX_FILES)
        return -E2BIG;
    if (vmaccel_resource_find_file(r, name, NULL, NULL) == 0)
        return -EEXIST;
    struct file f = {strdup(name), malloc(len ? len : 1), len};
    if (!f.name || !f.data) {
        free(f.name);
        free(f.data);
        return -ENOMEM;
    }
    if (len)
        memcpy(f.data, data, len);
    r->files[r->n_files++] = f;
    return 0;
}

/* Reads a whole regular file into memory. */
static int slurp(const char *path, void **data, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && !S_ISREG(st.st_mode))
        r = -EINVAL;
    size_t size = r == 0 ? (size_t)st.st_size : 0, got = 0;
    char *buf = r == 0 ? malloc(size ? size : 1) : NULL;
    if (r == 0 && !buf)
        r = -ENOMEM;
    while (r == 0 && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO; /* shrank under us */
        else
            got += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    *data = buf;
    *len = size;
    return 0;
}

/* The file at path, added under name. */
static int add_file_at(vmaccel_resource *r, const char *path, const char *name) {
    void *data = NULL;
    size_t len = 0;
    int rc = slurp(path, &data, &len);
    if (rc < 0)
        return rc;
    rc = vmaccel_resource_add_file(r, name, data, len);
    free(data);
    return rc;
}

static int add_path(vmaccel_resource *r, const char *dir, const char *name) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", name) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    return add_file_at(r, path, name);
}

static int visible_file(const struct dirent *d) {
    return d->d_name[0] != '.';
}

static int add_dir(vmaccel_resource *r, const char *dir) {
    struct dirent **list;
    int n = scandir(dir, &list, visible_file, alphasort);
    if (n < 0)
        return -errno;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_path(r, dir, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    return rc;
}

/* A file a .meta names (relative to the .meta's directory unless
 * absolute), added under its base name, as the backends look it up. */
static int add_ref(vmaccel_resource *r, const char *dir, const char *ref) {
    char path[4096 + VMACCEL_BUNDLE_LINE_MAX];
    bool abs = ref[0] == '/';
    if (snprintf(path, sizeof(path), "%s%s%s", abs ? "" : dir, abs ? "" : "/", ref) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    const char *base = strrchr(ref, '/') ? strrchr(ref, '/') + 1 : ref;
    return add_file_at(r, path, base);
}

/* A *.meta file and the files it names: the bundle without copying the
 * weights next to the metadata.  The metadata is checked here, by the
 * parser the backends use, so that a mistake in it is reported by the
 * call that read the file, naming its path and line. */
static int add_meta_bundle(vmaccel_resource *r, const char *dir, const char *name) {
    char path[4096], why[2048];
    void *text = NULL;
    size_t len = 0;
    vmaccel_bundle_meta m = {.size = sizeof(m)};
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int rc = slurp(path, &text, &len);
    if (rc == 0 && (rc = vmaccel_bundle_meta_parse(text, len, path, &m, why, sizeof(why))) < 0)
        vmaccel__log(r->ctx, VMACCEL_LOG_ERROR, "%s", why);
    if (rc == 0)
        rc = vmaccel_resource_add_file(r, VMACCEL_BUNDLE_META, text, len);
    free(text);
    const char *const refs[] = {m.model, m.config, m.labels};
    for (int i = 0; rc == 0 && i < 3; i++)
        if (refs[i][0])
            rc = add_ref(r, dir, refs[i]);
    return rc;
}

static int fill_from_path(vmaccel_resource *r, const char *path) {
    struct stat st;
    if (r->type == VMACCEL_RESOURCE_LIBRARY)
        return 0;
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return r->type == VMACCEL_RESOURCE_MODEL ? add_dir(r, path) : -EINVAL;
    const char *base = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", base ? (int)(base - path) : 1, base ? path : ".");
    if (!dir[0])
        strcpy(dir, "/");
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (r->type == VMACCEL_RESOURCE_MODEL && n > 5 && strcmp(base + n - 5, ".meta") == 0)
        return add_meta_bundle(r, dir, base);
    return add_path(r, dir, base);
}

int vmaccel_resource_from_path(vmaccel_ctx *ctx, vmaccel_resource_type type,
                               const char *path, vmaccel_resource **out) {
    if (!path || !*path || !out)
        return -EINVAL;
    vmaccel_resource *r;
    int rc = vmaccel_resource_new(ctx, type, &r);
    if (rc < 0)
        return rc;
    r->path = strdup(path);
    rc = r->path ? fill_from_path(r, path) : -ENOMEM;
    if (rc < 0) {
        vmaccel_resource_unref(r);
        return rc;
    }
    *out = r;
    return 0;
}

int vmaccel_resource_from_memory(vmaccel_ctx *ctx, const void *data, size_t len,
                                 vmaccel_resource **out) {
    if (!out || (!data && len))
        return -EINVAL;
    vmaccel_resource *r;
    int rc = vmaccel_resource_new(ctx, VMACCEL_RESOURCE_BLOB, &r);
    if (rc == 0)
        rc = vmaccel_resource_add_file(r, "blob", data, len);
    if (rc < 0) {
        vmaccel_resource_unref(r);
        return rc;
    }
    *out = r;
    return 0;
}

vmaccel_resource *vmaccel_resource_ref(vmaccel_resource *r) {
    if (r)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

vmaccel_resource *vmaccel_resource_unref(vmaccel_resource *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return NULL;
    vmaccel__hook_resource_free(r->ctx, r);
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].name);
        free(r->files[i].data);
    }
    free(r->path);
    atomic_fetch_sub(&r->ctx->live_objects, 1);
    free(r);
    return NULL;
}

uint64_t vmaccel_resource_get_id(const vmaccel_resource *r) {
    return r ? r->id : 0;
}

vmaccel_resource_type vmaccel_resource_get_type(const vmaccel_resource *r) {
    return r ? r->type : 0;
}

const char *vmaccel_resource_get_path(const vmaccel_resource *r) {
    return r ? r->path : NULL;
}

size_t vmaccel_resource_get_file_count(const vmaccel_resource *r) {
    return r ? r->n_files : 0;
}

int vmaccel_resource_get_file(const vmaccel_resource *r, size_t index,
                              const char **name, const void **data, size_t *len) {
    if (!r)
        return -EINVAL;
    if (index >= r->n_files)
        return -ENOENT;
    if (name)
        *name = r->files[index].name;
    if (data)
        *data = r->files[index].data;
    if (len)
        *len = r->files[index].len;
    return 0;
}

int vmaccel_resource_find_file(const vmaccel_resource *r, const char *name,
                               const void **data, size_t *len) {
    if (!r || !name)
        return -EINVAL;
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].name, name) == 0)
            return vmaccel_resource_get_file(r, i, NULL, data, len);
    return -ENOENT;
}
