/* The masker: memory, small maps and the trie (masker_internal.h). */
#include "job/masker_internal.h"

#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A realloc that wipes the old block: realloc may move the data and leave a
 * copy of the secrets in freed memory. The new part is zeroed. */
void *masker_grow_wiped(void *old, size_t old_size, size_t new_size) {
  void *p = bw_xmalloc(new_size);
  if (old) {
    memcpy(p, old, old_size);
    explicit_bzero(old, old_size);
    free(old);
  }
  memset((char *)p + old_size, 0, new_size - old_size);
  return p;
}

/* Large blocks (the node array, the hash tables) live in their own mappings,
 * with transparent huge pages where the system allows them: lookups in a trie
 * larger than the caches land on random pages, and 4 KiB pages would add a
 * TLB miss to each. The arrays that only grow (nodes, chain starts) are moved
 * by mremap, without copying: no copy of the secrets is left behind, and the
 * peak is the array itself, not the old block and the new. */
#define MAPPED_MIN ((size_t)1 << 20)

static void *map_zeroed(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    abort();
  madvise(p, size, MADV_HUGEPAGE); /* advice: fine if refused */
  return p;
}

/* A zeroed block; released by block_free with the same size. */
void *masker_block_alloc(size_t size) {
  return size >= MAPPED_MIN ? map_zeroed(size) : bw_xcalloc(1, size);
}

/* Wipes the used part (the rest was never written) and releases. */
void masker_block_free(void *p, size_t used, size_t size) {
  if (!p)
    return;
  explicit_bzero(p, used);
  if (size >= MAPPED_MIN)
    munmap(p, size);
  else
    free(p);
}

static void *array_grow(void *old, size_t old_size, size_t new_size) {
  if (new_size < MAPPED_MIN)
    return masker_grow_wiped(old, old_size, new_size);
  if (old_size < MAPPED_MIN) {
    void *p = map_zeroed(new_size);
    if (old) {
      memcpy(p, old, old_size);
      explicit_bzero(old, old_size);
      free(old);
    }
    return p;
  }
  void *p = mremap(old, old_size, new_size, MREMAP_MAYMOVE);
  if (p == MAP_FAILED)
    abort();
  madvise(p, new_size, MADV_HUGEPAGE);
  return p;
}

static u32_entry *u32_map_slot(u32_map *t, uint32_t key) {
  for (size_t i = hash_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].key == key || t->slots[i].key == 0)
      return &t->slots[i];
  }
}

void masker_u32_map_put(u32_map *t, uint32_t key, uint32_t val) {
  if ((t->n + 1) * 2 > t->cap) {
    u32_map grown = {.cap = t->cap ? t->cap * 2 : 64};
    grown.slots = masker_block_alloc(grown.cap * sizeof(u32_entry));
    for (size_t i = 0; i < t->cap; i++) {
      if (t->slots[i].key)
        *u32_map_slot(&grown, t->slots[i].key) = t->slots[i];
    }
    grown.n = t->n;
    masker_block_free(t->slots, t->cap * sizeof(u32_entry), t->cap * sizeof(u32_entry));
    *t = grown;
  }
  u32_entry *e = u32_map_slot(t, key);
  if (e->key == 0)
    t->n++;
  *e = (u32_entry){key, val};
}

static void u32_map_free(u32_map *t) {
  masker_block_free(t->slots, t->cap * sizeof(u32_entry), t->cap * sizeof(u32_entry));
}

masker *masker_new(void) {
  masker *m = bw_xcalloc(1, sizeof(*m));
  m->cap_nodes = 64;
  m->nodes = bw_xcalloc(m->cap_nodes, sizeof(ac_node));
  m->n_nodes = 1;
  m->nodes[0].flags = NODE_LINKED;
  atomic_init(&m->linked, true);
  pthread_mutex_init(&m->link_lock, NULL);
  return m;
}

void masker_free(masker *m) {
  if (!m)
    return;
  masker_block_free(m->nodes, m->n_nodes * sizeof(ac_node), m->cap_nodes * sizeof(ac_node));
  masker_block_free(m->starts, m->n_starts * sizeof(chain_start),
                    m->cap_starts * sizeof(chain_start));
  masker_block_free(m->edges, m->cap_edges * sizeof(edge), m->cap_edges * sizeof(edge));
  u32_map_free(&m->outs);
  if (m->dense) {
    explicit_bzero(m->dense, m->n_dense * sizeof(*m->dense));
    free(m->dense);
  }
  free(m->dense_fail);
  pthread_mutex_destroy(&m->link_lock);
  explicit_bzero(m, sizeof(*m));
  free(m);
}

size_t masker_longest(const masker *m) {
  return m ? m->longest : 0;
}

size_t masker_forms(const masker *m) {
  return m ? m->forms : 0;
}

size_t masker_footprint(const masker *m) {
  if (!m)
    return 0;
  return sizeof(*m) + m->n_nodes * sizeof(ac_node) + m->n_starts * sizeof(chain_start) +
         m->cap_edges * sizeof(edge) + m->outs.cap * sizeof(u32_entry) +
         m->n_dense * (sizeof(*m->dense) + sizeof(uint32_t));
}

static void edge_put(edge *edges, size_t cap, edge e) {
  size_t i = edge_slot(e.parent, e.byte, cap);
  while (edges[i].parent)
    i = (i + 1) & (cap - 1);
  edges[i] = e;
}

static void edge_insert(masker *m, uint32_t parent, uint32_t child) {
  if ((m->n_edges + 1) * 2 > m->cap_edges) {
    size_t cap = m->cap_edges ? m->cap_edges * 2 : 64;
    edge *grown = masker_block_alloc(cap * sizeof(edge));
    size_t kept = 0;
    for (size_t i = 0; i < m->cap_edges; i++) {
      edge e = m->edges[i];
      /* edges of nodes that went dense since are dropped here */
      if (e.parent && !(m->nodes[e.parent].flags & NODE_DENSE)) {
        edge_put(grown, cap, e);
        kept++;
      }
    }
    masker_block_free(m->edges, m->cap_edges * sizeof(edge), m->cap_edges * sizeof(edge));
    m->edges = grown;
    m->cap_edges = cap;
    m->n_edges = kept;
  }
  edge_put(m->edges, m->cap_edges, (edge){parent, child, m->nodes[child].byte});
  m->n_edges++;
}

static uint32_t new_node(masker *m) {
  if (m->n_nodes + 2 > m->cap_nodes) {
    if (m->cap_nodes >= VIA_FAIL / 2)
      abort();
    size_t cap = m->cap_nodes * 2;
    m->nodes = array_grow(m->nodes, m->cap_nodes * sizeof(ac_node), cap * sizeof(ac_node));
    m->cap_nodes = cap;
  }
  return (uint32_t)m->n_nodes++;
}

static void starts_push(masker *m, uint32_t child, uint32_t parent, uint32_t depth) {
  if (m->n_starts == m->cap_starts) {
    size_t cap = m->cap_starts ? m->cap_starts * 2 : 64;
    m->starts =
        array_grow(m->starts, m->cap_starts * sizeof(chain_start), cap * sizeof(chain_start));
    m->cap_starts = cap;
  }
  m->starts[m->n_starts++] = (chain_start){child, parent, depth};
}

static uint32_t add_child(masker *m, uint32_t parent, unsigned char c, uint32_t depth) {
  uint32_t v = new_node(m);
  bool chain = parent == v - 1; /* the parent is the newest node: no edge to store */
  m->nodes[v] = (ac_node){.byte = c, .flags = chain ? NODE_CHAIN : 0};
  if (!chain)
    starts_push(m, v, parent, depth);
  if (parent == 0) {
    m->root_next[c] = v;
  } else if (m->nodes[parent].flags & NODE_DENSE) {
    dense_table(m, parent)[c] = v;
  } else if (!chain) {
    edge_insert(m, parent, v);
    m->nodes[parent].flags |= NODE_SPARSE;
  }
  return v;
}

/* Adds one form to the trie. Returns 1 when the form is new. */
int masker_trie_insert(masker *m, const unsigned char *bytes, size_t len) {
  if (len >= UINT32_MAX / 2)
    return 0; /* lengths are kept in 32 bits; no secret is 2 GiB */
  uint32_t cur = 0;
  size_t i = 0;
  for (; i < len; i++) {
    uint32_t next = cur == 0 ? m->root_next[bytes[i]] : child_of(m, cur, bytes[i]);
    if (!next)
      break;
    cur = next;
  }
  for (; i < len; i++)
    cur = add_child(m, cur, bytes[i], (uint32_t)i + 1);
  if (m->nodes[cur].flags & NODE_TERMINAL)
    return 0;
  m->nodes[cur].flags |= NODE_TERMINAL | NODE_OUT;
  /* A node's out value only grows as forms are added (it is the longest form
   * that ends the node's string), so an earlier link's value is a lower bound. */
  if (u32_map_get(&m->outs, cur) < len)
    masker_u32_map_put(&m->outs, cur, (uint32_t)len);
  m->forms++;
  if (len > m->longest)
    m->longest = len;
  atomic_store_explicit(&m->linked, false, memory_order_relaxed);
  return 1;
}
