/* A connection's shared memory (protocol 1.3; docs/protocol.md "Shared
 * memory"): memfds a unix client passed with MEM_MAP, mapped read/write and
 * named by ids of that connection (1, 2, ...; never reused on it).
 *
 * A mapping is reference-counted: the table holds one reference and every
 * job that names the mapping one more (job.c), so neither MEM_UNMAP nor the
 * connection closing pulls memory from under an op; it is unmapped when
 * the last goes.  Its bytes count against the connection's
 * agent.max_mapped_bytes until then, and it and its bytes against the
 * agent-wide agent.max_mems and agent.max_mapped_bytes_total. */
#ifndef VMACCEL_AGENT_MEMS_H
#define VMACCEL_AGENT_MEMS_H

#include "agent.h"

#define MEMS_MAX 64 /* mappings per connection (-EMFILE) */

typedef struct agent_map agent_map;
typedef struct mem_table mem_table;

/* NULL when out of memory.  Its caps: cfg's max_mapped_bytes (this
 * table), max_mems and max_mapped_total (all tables, counted in st).  Its
 * mappings are mems of ctx (vmaccel_mem_import): a sandboxed worker of the
 * tenant is handed the guest's memory itself (src/core/isolate_mems.c). */
mem_table *mems_new(vmaccel_ctx *ctx, agent_stats *st, const agent_config *cfg);
/* A shared stream started over (conn.c): `to` goes on giving ids where
 * `from` stopped, so none is given twice on the connection. */
void mems_carry_ids(mem_table *to, mem_table *from);
/* Drops the table's references, and refuses new mappings from then on. */
void mems_close(mem_table *t);
/* The first half of mems_close, quick: refuses new mappings from now on
 * and moves the table's references (at most MEMS_MAX) into gone[];
 * returns how many.  The caller drops them (agent_map_put). */
uint32_t mems_take(mem_table *t, agent_map **gone);
/* Frees a closed table: after every job that used it is gone. */
void mems_free(mem_table *t);

/* MEM_MAP: checks that fd is a memfd of exactly `size` bytes (1 GiB at
 * most), every page allocated, sealed against shrinking, maps it and
 * names it.  0 and *id, or -EBADF (fd < 0: none came), -EINVAL (not a
 * memfd, another size, or holes), -EPERM (not sealed with F_SEAL_SHRINK,
 * or not writable), -EDQUOT (over max_bytes, or the agent-wide
 * max_mapped_total), -EMFILE (MEMS_MAX already, or the agent-wide
 * max_mems), -ECONNRESET (closed), -ENOMEM.
 * Closes fd in every case: the mapping keeps the memory. */
int mems_map(mem_table *t, int fd, uint64_t size, uint32_t *id);
/* MEM_UNMAP: 0, or -ENOENT for an id this table does not hold. */
int mems_unmap(mem_table *t, uint32_t id);
/* A new reference to mapping `id`, or NULL. */
agent_map *mems_get(mem_table *t, uint32_t id);
/* [offset, offset + len) of m: 0 and *p, or -EFAULT when it is not inside. */
int agent_map_at(const agent_map *m, uint64_t offset, uint64_t len, void **p);
void agent_map_put(agent_map *m);
agent_map *agent_map_ref(agent_map *m);
uint64_t agent_map_size(const agent_map *m);

/* VM regions (docs/vm.md, "Shared memory"): one per listener that has
 * one, shared by every connection on it.  The agent creates a memfd of
 * `size` bytes, seals it (shrink, grow, seal), maps it, and writes
 * AGENT_REGION_MAGIC and the u64 size into its first 16 bytes; QEMU opens
 * the memfd through /proc/<agent>/fd/<*fd> and hands it to the guest as an
 * ivshmem BAR.  The agent never reads anything back from it.  NULL and
 * *err when the system refuses. */
#define AGENT_REGION_MAGIC "VMACCELR"
agent_map *agent_region_new(agent_stats *st, uint64_t size, int *fd, int *err);
/* MEM_REGION: names `region` in t (a reference of its own; the same id
 * when t holds it already).  0 and *id, -EMFILE, -ECONNRESET (closed).
 * Not counted against agent.max_mapped_bytes: the listener owns it. */
int mems_add_region(mem_table *t, agent_map *region, uint32_t *id);

#endif
