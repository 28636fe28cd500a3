/* The masker's automaton (masker.h), shared by its parts; only they
 * include this header.
 *
 *   masker_trie.c    memory, small maps, the trie a registration builds
 *   masker_link.c    the fail links and dense tables, computed once after
 *                    registration (masker_link_ready)
 *   masker.c         the forms of a secret (plain, base64, JSON-escaped, line
 *                    by line), registration, scanning
 *   masker_stream.c  masking a stream, and a whole text
 */
#pragma once

#include "core/error.h"
#include "job/masker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An Aho-Corasick automaton over bytes, laid out for many secrets.
 *
 * Forms are random strings, so the trie is mostly chains: the nodes a form
 * adds are created one after the other, and a node whose parent is the node
 * just before it (NODE_CHAIN) needs no edge stored at all. The other edges
 * (one per branch, about one per form) are in a hash table keyed by (parent,
 * byte); a node with many children gets a dense 256-entry table instead, and
 * the root always has one (root_next), which also serves the hot path: most
 * text bytes start no form and fall straight back to the root. A node is 6
 * bytes; the longest form ending at a node (its own or along the fail links)
 * is kept in a hash table for the few nodes that have one (NODE_OUT).
 *
 * Registration only builds the trie; the fail links are computed once, by
 * masker_ready() on the first use after a registration (see masker.h). */
typedef struct __attribute__((packed)) ac_node {
  /* The longest proper suffix that is also a trie path; for a NODE_DENSE
   * node the index of its table instead (the fail link is in dense_fail). */
  uint32_t fail;
  unsigned char byte; /* of the edge from the parent */
  uint8_t flags;
} ac_node;

enum {
  NODE_CHAIN = 1 << 0,    /* the parent is the node just before (nodes[i - 1]) */
  NODE_TERMINAL = 1 << 1, /* a form ends here */
  NODE_OUT = 1 << 2,      /* a form ends here or along the fail links: see outs */
  NODE_SPARSE = 1 << 3,   /* has children in the edge table */
  NODE_DENSE = 1 << 4,    /* has a dense child table: dense[fail] */
  NODE_LINKED = 1 << 5,   /* fail and out computed (used while linking) */
};

/* A node that is not its parent's chain child, with that parent and its
 * depth: the link needs every node's parent (chain children have theirs
 * implicitly) and goes by depth. Appended in order of child, so sorted. */
typedef struct chain_start {
  uint32_t child;
  uint32_t parent;
  uint32_t depth;
} chain_start;

/* An edge of the edge table. parent 0 marks an empty slot (the root's
 * children are all in root_next). The byte is the child's, kept here so a
 * probe does not have to read the child. */
typedef struct edge {
  uint32_t parent;
  uint32_t child;
  unsigned char byte;
} edge;

/* Open addressing, key 0 = empty (never a key: node 0 is the root). */
typedef struct u32_entry {
  uint32_t key;
  uint32_t val;
} u32_entry;

typedef struct u32_map {
  u32_entry *slots;
  size_t cap; /* a power of two, or 0 */
  size_t n;
} u32_map;

/* A node with this many children or more gets a dense table (1 KiB, about
 * what its children cost in the edge table) at the next link. The link then
 * fills the table's other entries with the automaton's transitions (the
 * state the fail links lead to, marked VIA_FAIL), so a step from a wide node,
 * which is most steps in text that keeps starting forms, is one lookup. */
#define DENSE_MIN 32
#define VIA_FAIL 0x80000000u /* node indices stay below it (new_node) */

struct masker {
  /* nodes[0] is the root; nodes[n_nodes] is always a zeroed sentinel, so
   * looking at the next node for a chain child needs no bounds check. */
  ac_node *nodes;
  size_t n_nodes;
  size_t cap_nodes;
  uint32_t root_next[256];
  chain_start *starts;
  size_t n_starts;
  size_t cap_starts;
  edge *edges;
  size_t n_edges;
  size_t cap_edges; /* a power of two */
  u32_map outs;     /* node -> longest form ending there (NODE_OUT) */
  uint32_t (*dense)[256];
  uint32_t *dense_fail; /* the fail link of each table's node */
  size_t n_dense;
  size_t cap_dense;
  size_t longest;
  size_t forms;
  /* false after a registration until the next link; the link is the only
   * write after registration, done once under link_lock (masker_ready). */
  atomic_bool linked;
  pthread_mutex_t link_lock;
};

/* ---- the hot path, inlined into every part ---- */

static inline size_t hash_slot(uint64_t key, size_t cap) {
  /* Fibonacci hashing: the high bits of the product are the well-mixed ones. */
  uint64_t h = key * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

static inline uint32_t u32_map_get(const u32_map *t, uint32_t key) {
  if (!t->cap)
    return 0;
  for (size_t i = hash_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].key == key)
      return t->slots[i].val;
    if (t->slots[i].key == 0)
      return 0;
  }
}

static inline uint32_t *dense_table(const masker *m, uint32_t node) {
  return m->dense[m->nodes[node].fail];
}

static inline uint32_t fail_of(const masker *m, uint32_t node) {
  const ac_node *n = &m->nodes[node];
  return (n->flags & NODE_DENSE) ? m->dense_fail[n->fail] : n->fail;
}

static inline size_t edge_slot(uint32_t parent, unsigned char c, size_t cap) {
  return hash_slot((uint64_t)parent << 8 | c, cap);
}

static inline uint32_t edge_find(const masker *m, uint32_t parent, unsigned char c) {
  size_t mask = m->cap_edges - 1;
  for (size_t i = edge_slot(parent, c, m->cap_edges);; i = (i + 1) & mask) {
    const edge *e = &m->edges[i];
    if (e->parent == parent && e->byte == c)
      return e->child;
    if (e->parent == 0)
      return 0;
  }
}

/* The child of node s (not the root) by byte c, or 0. */
static inline uint32_t child_of(const masker *m, uint32_t s, unsigned char c) {
  const ac_node *next = &m->nodes[s + 1];
  if ((next->flags & NODE_CHAIN) && next->byte == c)
    return s + 1;
  uint8_t flags = m->nodes[s].flags;
  if (flags & NODE_DENSE) {
    uint32_t x = dense_table(m, s)[c];
    return (x & VIA_FAIL) ? 0 : x;
  }
  if (flags & NODE_SPARSE)
    return edge_find(m, s, c);
  return 0;
}

/* The automaton's transition: follow fail links until a trie edge fits (or a
 * dense table knows where they lead). */
static inline uint32_t ac_step(const masker *m, uint32_t state, unsigned char c) {
  for (;;) {
    if (state == 0)
      return m->root_next[c];
    const ac_node *next = &m->nodes[state + 1];
    if ((next->flags & NODE_CHAIN) && next->byte == c)
      return state + 1;
    uint8_t flags = m->nodes[state].flags;
    if (flags & NODE_DENSE) {
      uint32_t x = dense_table(m, state)[c];
      if (x)
        return x & ~VIA_FAIL;
    } else if (flags & NODE_SPARSE) {
      uint32_t x = edge_find(m, state, c);
      if (x)
        return x;
    }
    state = (flags & NODE_DENSE) ? m->dense_fail[m->nodes[state].fail] : m->nodes[state].fail;
  }
}

/* Length of the longest form that ends in this state, 0 when none does. */
static inline uint32_t ac_match(const masker *m, uint32_t state) {
  return (m->nodes[state].flags & NODE_OUT) ? u32_map_get(&m->outs, state) : 0;
}

/* ---- across the parts ---- */
void *masker_grow_wiped(void *old, size_t old_size, size_t new_size);
void *masker_block_alloc(size_t size);
void masker_block_free(void *p, size_t used, size_t size);
void masker_u32_map_put(u32_map *t, uint32_t key, uint32_t val);
int masker_trie_insert(masker *m, const unsigned char *bytes, size_t len);
void masker_link_ready(const masker *cm);
