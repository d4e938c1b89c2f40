/* The reference docs against the headers.  docs/api.md shows every
 * exported function of the library, and docs/plugins.md every function
 * pointer of the plugin ABI, with its exact current declaration; neither
 * calls a vmaccel_*() function that no header declares, nor an old name
 * outside api.md's "Deprecated names".  So a rename, a new parameter or an
 * added const cannot leave the docs behind. */
#include <ctype.h>

#include "runner.h"

#define NAMES_MAX 256

typedef struct names {
    char v[NAMES_MAX][64];
    int n;
} names;

static char *slurp(const char *rel) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", TEST_SOURCE_DIR, rel);
    FILE *f = fopen(path, "r");
    CHECK(f);
    size_t cap = 1 << 20;
    char *s = malloc(cap);
    CHECK(s);
    size_t n = fread(s, 1, cap - 1, f);
    CHECK(n < cap - 1);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void strip_comments(char *s) {
    for (char *p = s; (p = strstr(p, "/*"));) {
        char *end = strstr(p, "*/");
        CHECK(end);
        memset(p, ' ', (size_t)(end + 2 - p));
    }
}

/* Whitespace runs become one space, and none is kept just inside
 * parentheses: how a declaration is wrapped does not matter. */
static void squeeze(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (isspace((unsigned char)*r)) {
            if (w > s && w[-1] != ' ' && w[-1] != '(' && r[1] && !isspace((unsigned char)r[1]))
                *w++ = ' ';
            continue;
        }
        if (*r == ')' && w > s && w[-1] == ' ')
            w--;
        *w++ = *r;
    }
    *w = '\0';
}

static char *squeezed(const char *rel, bool code) {
    char *s = slurp(rel);
    if (code)
        strip_comments(s);
    squeeze(s);
    return s;
}

/* The identifier just before the first '(' of decl[0..len) ("(*" skipped). */
static void name_of(const char *decl, size_t len, char out[64]) {
    const char *paren = memchr(decl, '(', len), *end;
    CHECK(paren);
    if (paren[1] == '*')
        paren = strchr(paren, ')');
    for (end = paren; end > decl && (isalnum((unsigned char)end[-1]) || end[-1] == '_');)
        end--;
    snprintf(out, 64, "%.*s", (int)(paren - end), end);
}

/* decl[0..len) must appear in doc word for word; 1 when it does not. */
static int missing(const char *decl, size_t len, const char *doc, const char *doc_name) {
    char want[1024];
    snprintf(want, sizeof(want), "%.*s", (int)len, decl);
    if (strstr(doc, want))
        return 0;
    fprintf(stderr, "  %s lacks: %s\n", doc_name, want);
    return 1;
}

/* Every VMACCEL_API declaration of a header (a deprecated one's message
 * left out); the names of those not deprecated go into *known. */
static int api_decls(const char *header, const char *doc, const char *doc_name,
                     names *known) {
    static const char exp[] = "VMACCEL_PLUGIN_EXPORT ";
    size_t exp_len = strlen(exp);
    char *h = squeezed(header, true);
    int bad = 0;
    for (char *p = h; (p = strstr(p, "VMACCEL_API "));) {
        /* plugin.h's export macro, defined as VMACCEL_API, declares nothing */
        bool macro = (size_t)(p - h) >= exp_len && !strncmp(p - exp_len, exp, exp_len);
        p += strlen("VMACCEL_API ");
        if (macro)
            continue;
        bool old = strncmp(p, "VMACCEL_DEPRECATED(\"", 20) == 0;
        if (old)
            p = strstr(p, "\")") + 3;
        size_t len = (size_t)(strchr(p, ';') + 1 - p);
        CHECK(known->n < NAMES_MAX);
        if (!old)
            name_of(p, len, known->v[known->n++]);
        bad += missing(p, len, doc, doc_name);
    }
    free(h);
    return bad;
}

/* Every function pointer in plugin.h: from the start of its member to ';'. */
static int plugin_decls(const char *doc) {
    char *h = squeezed("include/vmaccel/plugin.h", true);
    int bad = 0;
    for (char *p = h; (p = strstr(p, "(*")); p += 2) {
        char *start = p;
        while (start > h && !strchr(";{}", start[-1]))
            start--;
        while (*start == ' ')
            start++;
        bad += missing(start, (size_t)(strchr(p, ';') + 1 - start), doc, "docs/plugins.md");
    }
    free(h);
    return bad;
}

static bool known_name(const names *known, const char *name) {
    for (int i = 0; i < known->n; i++)
        if (strcmp(known->v[i], name) == 0)
            return true;
    return false;
}

/* Every vmaccel_xxx( in doc names a declared, current function; the
 * section "Deprecated names", where the old ones are listed, aside. */
static int stale_calls(const char *doc, const char *doc_name, const names *known) {
    char *text = strdup(doc), *old = strstr(text, "## Deprecated names");
    CHECK(text);
    if (old) {
        char *next = strstr(old + 2, "## ");
        memset(old, ' ', next ? (size_t)(next - old) : strlen(old));
    }
    int bad = 0;
    for (const char *p = text; (p = strstr(p, "vmaccel_")); p++) {
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (p[n] == '(' && !known_name(known, name)) {
            fprintf(stderr, "  %s calls %s(), which no header declares\n", doc_name, name);
            bad++;
        }
    }
    free(text);
    return bad;
}

TEST(docs_show_every_public_function_as_declared) {
    static const char *const headers[] = {
        "include/vmaccel/version.h.in", "include/vmaccel/error.h", "include/vmaccel/core.h",
        "include/vmaccel/resource.h", "include/vmaccel/ops.h", "include/vmaccel/bundle.h",
        "include/vmaccel/mem.h", "include/vmaccel/tensor.h",
    };
    static names known;
    char *api = squeezed("docs/api.md", false), *plugins = squeezed("docs/plugins.md", false);
    int bad = 0;
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        bad += api_decls(headers[i], api, "docs/api.md", &known);
    CHECK(known.n > 40); /* the parser found them all */
    bad += api_decls("include/vmaccel/plugin.h", plugins, "docs/plugins.md", &known);
    bad += plugin_decls(plugins);
    bad += stale_calls(api, "docs/api.md", &known);
    bad += stale_calls(plugins, "docs/plugins.md", &known);
    free(api);
    free(plugins);
    CHECK_INT(bad, 0);
}
