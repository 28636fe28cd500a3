#include "masker.h"

#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

static void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    abort();
  return p;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    abort();
  return p;
}

/* A realloc that wipes the old block: realloc may move the data and leave a
 * copy of the secrets in freed memory. The new part is zeroed. */
static void *grow_wiped(void *old, size_t old_size, size_t new_size) {
  void *p = xmalloc(new_size);
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
static void *block_alloc(size_t size) {
  return size >= MAPPED_MIN ? map_zeroed(size) : xcalloc(1, size);
}

/* Wipes the used part (the rest was never written) and releases. */
static void block_free(void *p, size_t used, size_t size) {
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
    return grow_wiped(old, old_size, new_size);
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

static size_t hash_slot(uint64_t key, size_t cap) {
  /* Fibonacci hashing: the high bits of the product are the well-mixed ones. */
  uint64_t h = key * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

/* ---- small maps ---------------------------------------------------------- */

static uint32_t u32_map_get(const u32_map *t, uint32_t key) {
  if (!t->cap)
    return 0;
  for (size_t i = hash_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].key == key)
      return t->slots[i].val;
    if (t->slots[i].key == 0)
      return 0;
  }
}

static u32_entry *u32_map_slot(u32_map *t, uint32_t key) {
  for (size_t i = hash_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].key == key || t->slots[i].key == 0)
      return &t->slots[i];
  }
}

static void u32_map_put(u32_map *t, uint32_t key, uint32_t val) {
  if ((t->n + 1) * 2 > t->cap) {
    u32_map grown = {.cap = t->cap ? t->cap * 2 : 64};
    grown.slots = block_alloc(grown.cap * sizeof(u32_entry));
    for (size_t i = 0; i < t->cap; i++) {
      if (t->slots[i].key)
        *u32_map_slot(&grown, t->slots[i].key) = t->slots[i];
    }
    grown.n = t->n;
    block_free(t->slots, t->cap * sizeof(u32_entry), t->cap * sizeof(u32_entry));
    *t = grown;
  }
  u32_entry *e = u32_map_slot(t, key);
  if (e->key == 0)
    t->n++;
  *e = (u32_entry){key, val};
}

static void u32_map_free(u32_map *t) {
  block_free(t->slots, t->cap * sizeof(u32_entry), t->cap * sizeof(u32_entry));
}

/* ---- the trie ------------------------------------------------------------ */

masker *masker_new(void) {
  masker *m = xcalloc(1, sizeof(*m));
  m->cap_nodes = 64;
  m->nodes = xcalloc(m->cap_nodes, sizeof(ac_node));
  m->n_nodes = 1;
  m->nodes[0].flags = NODE_LINKED;
  atomic_init(&m->linked, true);
  pthread_mutex_init(&m->link_lock, NULL);
  return m;
}

void masker_free(masker *m) {
  if (!m)
    return;
  block_free(m->nodes, m->n_nodes * sizeof(ac_node), m->cap_nodes * sizeof(ac_node));
  block_free(m->starts, m->n_starts * sizeof(chain_start), m->cap_starts * sizeof(chain_start));
  block_free(m->edges, m->cap_edges * sizeof(edge), m->cap_edges * sizeof(edge));
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

static inline uint32_t *dense_table(const masker *m, uint32_t node) {
  return m->dense[m->nodes[node].fail];
}

static inline uint32_t fail_of(const masker *m, uint32_t node) {
  const ac_node *n = &m->nodes[node];
  return (n->flags & NODE_DENSE) ? m->dense_fail[n->fail] : n->fail;
}

static size_t edge_slot(uint32_t parent, unsigned char c, size_t cap) {
  return hash_slot((uint64_t)parent << 8 | c, cap);
}

static uint32_t edge_find(const masker *m, uint32_t parent, unsigned char c) {
  size_t mask = m->cap_edges - 1;
  for (size_t i = edge_slot(parent, c, m->cap_edges);; i = (i + 1) & mask) {
    const edge *e = &m->edges[i];
    if (e->parent == parent && e->byte == c)
      return e->child;
    if (e->parent == 0)
      return 0;
  }
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
    edge *grown = block_alloc(cap * sizeof(edge));
    size_t kept = 0;
    for (size_t i = 0; i < m->cap_edges; i++) {
      edge e = m->edges[i];
      /* edges of nodes that went dense since are dropped here */
      if (e.parent && !(m->nodes[e.parent].flags & NODE_DENSE)) {
        edge_put(grown, cap, e);
        kept++;
      }
    }
    block_free(m->edges, m->cap_edges * sizeof(edge), m->cap_edges * sizeof(edge));
    m->edges = grown;
    m->cap_edges = cap;
    m->n_edges = kept;
  }
  edge_put(m->edges, m->cap_edges, (edge){parent, child, m->nodes[child].byte});
  m->n_edges++;
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
static int trie_insert(masker *m, const unsigned char *bytes, size_t len) {
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
    u32_map_put(&m->outs, cur, (uint32_t)len);
  m->forms++;
  if (len > m->longest)
    m->longest = len;
  atomic_store_explicit(&m->linked, false, memory_order_relaxed);
  return 1;
}

/* ---- linking ------------------------------------------------------------- */

/* Nodes with many children get a dense table, counted over the chain starts
 * (every child but the chain child is one). */
static void make_dense(masker *m) {
  if (m->n_starts == 0)
    return;
  uint8_t *kids = block_alloc(m->n_nodes);
  for (size_t i = 0; i < m->n_starts; i++) {
    uint32_t p = m->starts[i].parent;
    if (kids[p] < UINT8_MAX)
      kids[p]++;
  }
  for (size_t i = 0; i < m->n_starts; i++) {
    uint32_t p = m->starts[i].parent, v = m->starts[i].child;
    if (p == 0)
      continue;
    if (!(m->nodes[p].flags & NODE_DENSE)) {
      if (kids[p] + 1 < DENSE_MIN)
        continue;
      if (m->n_dense == m->cap_dense) {
        size_t cap = m->cap_dense ? m->cap_dense * 2 : 16;
        m->dense = grow_wiped(m->dense, m->cap_dense * sizeof(*m->dense), cap * sizeof(*m->dense));
        m->dense_fail =
            grow_wiped(m->dense_fail, m->cap_dense * sizeof(uint32_t), cap * sizeof(uint32_t));
        m->cap_dense = cap;
      }
      m->dense_fail[m->n_dense] = 0; /* linked next */
      m->nodes[p].fail = (uint32_t)m->n_dense++;
      m->nodes[p].flags = (uint8_t)((m->nodes[p].flags | NODE_DENSE) & ~NODE_SPARSE);
      if (m->nodes[p + 1].flags & NODE_CHAIN)
        dense_table(m, p)[m->nodes[p + 1].byte] = p + 1;
    }
    dense_table(m, p)[m->nodes[v].byte] = v;
  }
  block_free(kids, 0, m->n_nodes); /* counts, no secret: no need to wipe */
}

static uint32_t parent_of(const masker *m, uint32_t v) {
  if (m->nodes[v].flags & NODE_CHAIN)
    return v - 1;
  size_t lo = 0, hi = m->n_starts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->starts[mid].child < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return m->starts[lo].parent;
}

static inline bool is_linked(const ac_node *nodes, uint32_t u) {
  return nodes[u].flags & NODE_LINKED;
}

/* The fail walk for a child with byte c, from f, the fail link of its linked
 * parent: returns the child's fail target. A node is linked only after its
 * fail target (link_finish's callers see to it), so every node the walk meets
 * is linked. */
static uint32_t fail_walk(const masker *m, uint32_t f, unsigned char c) {
  for (;;) {
    if (f == 0)
      return m->root_next[c];
    uint32_t x = child_of(m, f, c);
    if (x)
      return x;
    f = fail_of(m, f);
  }
}

static void link_finish(masker *m, uint32_t v, uint32_t x) {
  ac_node *nodes = m->nodes;
  if (nodes[v].flags & NODE_DENSE)
    m->dense_fail[nodes[v].fail] = x;
  else
    nodes[v].fail = x;
  if (nodes[x].flags & NODE_OUT) {
    uint32_t inherited = u32_map_get(&m->outs, x);
    if (inherited > ((nodes[v].flags & NODE_OUT) ? u32_map_get(&m->outs, v) : 0)) {
      u32_map_put(&m->outs, v, inherited);
      nodes[v].flags |= NODE_OUT;
    }
  }
  nodes[v].flags |= NODE_LINKED;
}

/* Linking v needs its parent and its fail target (for its out value) linked
 * first. They are both shallower than v, so a stack of pending nodes (at most
 * one per depth) resolves them in any order; it is only needed when a fail
 * target is a node of a later form, not linked yet. */
typedef struct link_frame {
  uint32_t v;
  uint32_t parent; /* UINT32_MAX: not looked up yet */
} link_frame;

typedef struct link_stack {
  link_frame *frames;
  size_t n;
  size_t cap;
} link_stack;

static void link_push(link_stack *st, uint32_t v) {
  if (st->n == st->cap) {
    st->cap = st->cap ? st->cap * 2 : 64;
    st->frames = realloc(st->frames, st->cap * sizeof(link_frame));
    if (!st->frames)
      abort();
  }
  st->frames[st->n++] = (link_frame){v, UINT32_MAX};
}

static void link_pending(masker *m, link_stack *st, uint32_t v0) {
  ac_node *nodes = m->nodes;
  st->n = 0;
  link_push(st, v0);
  while (st->n > 0) {
    link_frame *fr = &st->frames[st->n - 1];
    uint32_t v = fr->v;
    if (is_linked(nodes, v)) {
      st->n--;
      continue;
    }
    if (fr->parent == UINT32_MAX)
      fr->parent = parent_of(m, v);
    uint32_t p = fr->parent;
    if (!is_linked(nodes, p)) {
      link_push(st, p);
      continue;
    }
    uint32_t x = p == 0 ? 0 : fail_walk(m, fail_of(m, p), nodes[v].byte);
    if (!is_linked(nodes, x)) {
      link_push(st, x);
      continue;
    }
    link_finish(m, v, x);
    st->n--;
  }
}

/* Completes the dense tables: every byte without a child gets the state the
 * fail links lead to. */
static void complete_dense(masker *m) {
  for (size_t t = 0; t < m->n_dense; t++) {
    uint32_t *table = m->dense[t];
    uint32_t fail = m->dense_fail[t];
    for (unsigned c = 0; c < 256; c++) {
      if (!table[c])
        table[c] = VIA_FAIL | ac_step(m, fail, (unsigned char)c);
    }
  }
}

/* Shallow nodes are linked first, one depth after the other, as in the usual
 * breadth-first link: they are the fail targets of almost every deeper node,
 * which then find them linked. Deeper nodes are linked chain by chain (runs
 * of nodes that each are the child of the one before), many chains at once:
 * in a trie larger than the caches each step of a fail walk (a node, its
 * dense table, its edge slot) is a cache miss, and one after the other they
 * would add up. So each lane does one step of its walk per turn: it
 * prefetches what the step needs and comes back to it after the other lanes,
 * when the memory has answered. */
#define LINK_SHALLOW 5
#define LINK_LANES 16

enum {
  LANE_IDLE,
  LANE_NODE,  /* the walk is at node f: its node and the next are coming */
  LANE_DENSE, /* at f, whose dense table's entry is coming */
  LANE_EDGE,  /* at f, whose edge slot is coming */
  LANE_FOUND, /* f is v's fail target; its node is coming */
  LANE_WAIT,  /* v starts a chain and its parent f, in another lane's chain, is not linked yet */
};

typedef struct link_lane {
  uint32_t v;   /* the node being linked */
  uint32_t end; /* v's chain ends before this node */
  uint32_t f;
  uint8_t phase;
  unsigned char c; /* v's byte */
} link_lane;

static void lane_at(const masker *m, link_lane *ln, uint32_t f) {
  ln->f = f;
  if (f == 0) {
    ln->f = m->root_next[ln->c];
    ln->phase = LANE_FOUND;
  } else {
    ln->phase = LANE_NODE;
  }
  __builtin_prefetch(&m->nodes[ln->f]);
  __builtin_prefetch(&m->nodes[ln->f + 1]);
}

static void lane_found(const masker *m, link_lane *ln, uint32_t x) {
  ln->f = x;
  ln->phase = LANE_FOUND;
  __builtin_prefetch(&m->nodes[x]);
  __builtin_prefetch(&m->nodes[x + 1]);
}

/* Starts the walk for node v, whose parent is linked or (for the first node
 * of a chain) will be by the lane that has the parent's chain. */
static void lane_start(masker *m, link_lane *ln, uint32_t v, uint32_t parent) {
  ln->v = v;
  ln->c = m->nodes[v].byte;
  if (parent == 0) {
    lane_found(m, ln, 0); /* a depth-1 node fails to the root */
  } else if (is_linked(m->nodes, parent)) {
    lane_at(m, ln, fail_of(m, parent));
  } else {
    ln->f = parent;
    ln->phase = LANE_WAIT;
  }
}

static void lane_turn(masker *m, link_stack *st, link_lane *ln) {
  const ac_node *nodes = m->nodes;
  uint32_t f = ln->f;
  switch (ln->phase) {
  case LANE_NODE: {
    if ((nodes[f + 1].flags & NODE_CHAIN) && nodes[f + 1].byte == ln->c) {
      lane_found(m, ln, f + 1);
    } else if (nodes[f].flags & NODE_DENSE) {
      __builtin_prefetch(&m->dense[nodes[f].fail][ln->c]);
      ln->phase = LANE_DENSE;
    } else if (nodes[f].flags & NODE_SPARSE) {
      __builtin_prefetch(&m->edges[edge_slot(f, ln->c, m->cap_edges)]);
      ln->phase = LANE_EDGE;
    } else {
      lane_at(m, ln, fail_of(m, f)); /* no child: on along the fail links */
    }
    return;
  }
  case LANE_DENSE:
  case LANE_EDGE: {
    /* during the link the tables hold children only (ac_link) */
    uint32_t x = ln->phase == LANE_DENSE ? m->dense[nodes[f].fail][ln->c] : edge_find(m, f, ln->c);
    if (x)
      lane_found(m, ln, x);
    else
      lane_at(m, ln, fail_of(m, f)); /* no child: on along the fail links */
    return;
  }
  case LANE_FOUND: {
    if (!is_linked(nodes, ln->v)) {
      if (is_linked(nodes, f))
        link_finish(m, ln->v, f);
      else
        link_pending(m, st, ln->v); /* f is a later form's, needed for its out value */
    }
    if (ln->v + 1 == ln->end)
      ln->phase = LANE_IDLE;
    else
      lane_start(m, ln, ln->v + 1, ln->v);
    return;
  }
  case LANE_WAIT:
    if (is_linked(nodes, f))
      lane_at(m, ln, fail_of(m, f));
    return;
  }
}

/* Chain k (0 ..= n_starts) starts at node 1, depth 1 (k = 0), or at
 * starts[k - 1], and ends where the next one starts. */
typedef struct chain {
  uint32_t first;
  uint32_t end;
  uint32_t parent;
  uint32_t depth;
} chain;

static chain chain_at(const masker *m, size_t k) {
  chain c = {1, 0, 0, 1};
  if (k > 0)
    c = (chain){m->starts[k - 1].child, 0, m->starts[k - 1].parent, m->starts[k - 1].depth};
  c.end = k < m->n_starts ? m->starts[k].child : (uint32_t)m->n_nodes;
  return c;
}

/* Links the nodes of depth 1 to LINK_SHALLOW, a depth at a time: the parent
 * and the fail target of each are shallower, so linked already. */
static void link_shallow(masker *m) {
  size_t n_chains = m->n_starts + 1;
  for (uint32_t d = 1; d <= LINK_SHALLOW; d++) {
    for (size_t k = 0; k < n_chains; k++) {
      chain c = chain_at(m, k);
      if (c.depth > d || c.first + (d - c.depth) >= c.end)
        continue;
      uint32_t v = c.first + (d - c.depth);
      uint32_t p = v == c.first ? c.parent : v - 1; /* shallower: linked */
      link_finish(m, v, p == 0 ? 0 : fail_walk(m, fail_of(m, p), m->nodes[v].byte));
    }
  }
}

/* Computes every fail link and out value from scratch: linear in the nodes
 * (the fail walks are the usual amortized O(length) per path). */
static void ac_link(masker *m) {
  ac_node *nodes = m->nodes;
  for (size_t v = 1; v < m->n_nodes; v++)
    nodes[v].flags &= (uint8_t)~NODE_LINKED;
  for (size_t t = 0; t < m->n_dense; t++) {
    for (unsigned c = 0; c < 256; c++) {
      if (m->dense[t][c] & VIA_FAIL)
        m->dense[t][c] = 0; /* the last link's transitions: forms came since */
    }
  }
  make_dense(m);
  link_stack st = {0};
  size_t n_chains = m->n_nodes > 1 ? m->n_starts + 1 : 0;
  if (n_chains)
    link_shallow(m);
  link_lane lanes[LINK_LANES] = {{0}};
  size_t next_chain = 0;
  bool busy;
  do {
    busy = false;
    for (size_t l = 0; l < LINK_LANES; l++) {
      link_lane *ln = &lanes[l];
      if (ln->phase != LANE_IDLE)
        lane_turn(m, &st, ln);
      while (ln->phase == LANE_IDLE && next_chain < n_chains) {
        chain c = chain_at(m, next_chain++);
        /* the part below LINK_SHALLOW, if the chain reaches there */
        uint32_t skip = c.depth > LINK_SHALLOW ? 0 : LINK_SHALLOW + 1 - c.depth;
        if (c.first + skip >= c.end)
          continue;
        ln->end = c.end;
        uint32_t v = c.first + skip;
        lane_start(m, ln, v, skip ? v - 1 : c.parent);
      }
      busy |= ln->phase != LANE_IDLE;
    }
  } while (busy);
  free(st.frames);
  complete_dense(m);
}

/* Links on the first use after a registration. Any thread may get here first;
 * the others wait on the lock and then see the finished automaton. */
static void masker_ready(const masker *cm) {
  masker *m = (masker *)cm; /* allocated by masker_new, never const itself */
  if (atomic_load_explicit(&m->linked, memory_order_acquire))
    return;
  pthread_mutex_lock(&m->link_lock);
  if (!atomic_load_explicit(&m->linked, memory_order_relaxed)) {
    ac_link(m);
    atomic_store_explicit(&m->linked, true, memory_order_release);
  }
  pthread_mutex_unlock(&m->link_lock);
}

/* ---- forms --------------------------------------------------------------- */

static int add_form(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  return trie_insert(m, (const unsigned char *)bytes, len);
}

static void add_base64_forms(masker *m, const char *value, size_t len) {
  if (len > INT_MAX / 2)
    return; /* EVP_EncodeBlock takes an int; no real secret is this big */
  size_t cap = 4 * ((len + 2) / 3) + 1;
  char stack_buf[256];
  char *b64 = cap <= sizeof(stack_buf) ? stack_buf : xmalloc(cap);
  size_t n = (size_t)EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)value, (int)len);
  size_t unpadded = n;
  while (unpadded > 0 && b64[unpadded - 1] == '=')
    unpadded--;
  add_form(m, b64, n);
  if (unpadded < n)
    add_form(m, b64, unpadded);
  bool url_differs = false;
  for (size_t i = 0; i < n; i++) {
    if (b64[i] == '+') {
      b64[i] = '-';
      url_differs = true;
    } else if (b64[i] == '/') {
      b64[i] = '_';
      url_differs = true;
    }
  }
  if (url_differs) {
    add_form(m, b64, n);
    if (unpadded < n)
      add_form(m, b64, unpadded);
  }
  explicit_bzero(b64, cap);
  if (b64 != stack_buf)
    free(b64);
}

/* jansson writes \u escapes with upper-case hex; PHP's json_encode and
 * Python's json.dumps write lower case, and components use both. */
static bool lowercase_unicode_escapes(char *s, size_t len) {
  bool changed = false;
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\')
      continue;
    if (s[i + 1] == 'u') {
      for (size_t k = i + 2; k < i + 6 && k < len; k++) {
        if (s[k] >= 'A' && s[k] <= 'F') {
          s[k] = (char)(s[k] - 'A' + 'a');
          changed = true;
        }
      }
    }
    i++; /* skip the escaped character, so "\\u" is not taken for an escape */
  }
  return changed;
}

/* jansson's escaping (dump.c) of an ASCII string: '"', '\\' and the control
 * characters always (\b \f \n \r \t, the others as \u00XX), '/' with
 * JSON_ESCAPE_SLASH; JSON_ENSURE_ASCII changes nothing. Done here because
 * json_dumps costs more than all the rest of a secret's registration, and
 * unit tests compare it with jansson's, byte for byte. Returns the length;
 * out has room for 6 bytes per byte. */
static size_t json_escape_ascii(const char *value, size_t len, bool escape_slash, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    char short_form = 0;
    switch (c) {
    case '"':
    case '\\':
      short_form = (char)c;
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\f':
      short_form = 'f';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\r':
      short_form = 'r';
      break;
    case '\t':
      short_form = 't';
      break;
    case '/':
      short_form = escape_slash ? '/' : 0;
      break;
    default:
      break;
    }
    if (short_form) {
      out[n++] = '\\';
      out[n++] = short_form;
    } else if (c < 0x20) {
      memcpy(out + n, "\\u00", 4);
      out[n + 4] = hex[c >> 4];
      out[n + 5] = hex[c & 15];
      n += 6;
    } else {
      out[n++] = (char)c;
    }
  }
  return n;
}

static void add_escaped_forms(masker *m, char *escaped, size_t n) {
  add_form(m, escaped, n);
  if (lowercase_unicode_escapes(escaped, n))
    add_form(m, escaped, n);
}

static void add_json_forms(masker *m, const char *value, size_t len) {
  /* jansson escapes '"', '\\' and control characters always, '/' with
   * JSON_ESCAPE_SLASH and non-ASCII with JSON_ENSURE_ASCII, and copies
   * everything else: a flag set whose escapes the value does not contain
   * writes the plain value (registered already), so it is skipped. */
  bool special = false, slash = false, high = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c >= 0x80)
      high = true;
    else if (c < 0x20 || c == '"' || c == '\\')
      special = true;
    else if (c == '/')
      slash = true;
  }
  if (!special && !slash && !high)
    return;
  if (!high) {
    char stack_buf[6 * 64];
    char *out = len <= 64 ? stack_buf : xmalloc(6 * len);
    if (special)
      add_escaped_forms(m, out, json_escape_ascii(value, len, false, out));
    if (slash)
      add_escaped_forms(m, out, json_escape_ascii(value, len, true, out));
    explicit_bzero(out, len <= 64 ? sizeof(stack_buf) : 6 * len);
    if (out != stack_buf)
      free(out);
    return;
  }
  /* jansson refuses invalid UTF-8; such a value has no JSON form to mask. */
  json_t *js = json_stringn(value, len);
  if (!js)
    return;
  static const size_t flag_sets[] = {0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
                                     JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
  for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
    size_t flags = flag_sets[f];
    bool escapes =
        special || ((flags & JSON_ESCAPE_SLASH) && slash) || ((flags & JSON_ENSURE_ASCII) && high);
    if (!escapes)
      continue;
    char *dumped = json_dumps(js, JSON_ENCODE_ANY | flags);
    if (!dumped)
      abort();
    size_t n = strlen(dumped);
    if (n >= 2) /* without the quotes */
      add_escaped_forms(m, dumped + 1, n - 2);
    explicit_bzero(dumped, n);
    free(dumped);
  }
  json_decref(js);
}

static void add_value_forms(masker *m, const char *value, size_t len) {
  add_form(m, value, len);
  add_base64_forms(m, value, len);
  add_json_forms(m, value, len);
}

static bool has_alnum(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
        (s[i] >= 'A' && s[i] <= 'Z'))
      return true;
  return false;
}

/* The whole value, and each of its lines when it has several: the worker
 * masks container output line by line, so a printed PEM key arrives as lines
 * that each must be hidden on their own. */
static int add_secret_forms(masker *m, const char *value, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_value_forms(m, value, len);
  if (!memchr(value, '\n', len))
    return 1;
  const char *end = value + len;
  for (const char *line = value;;) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    const char *start = line;
    const char *stop = eol ? eol : end;
    /* A line counts without its indentation and trailing blanks (a component
     * may print it indented otherwise), and only when something of it is
     * more than punctuation: the "  }," of a multi-line JSON secret would
     * otherwise hide every "}," of the logs. */
    while (start < stop && (*start == ' ' || *start == '\t'))
      start++;
    while (stop > start && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
      stop--;
    size_t n = (size_t)(stop - start);
    if (n >= MASKER_MIN_SECRET && has_alnum(start, n))
      add_value_forms(m, start, n);
    if (!eol)
      break;
    line = eol + 1;
  }
  return 1;
}

int masker_add_secret_len(masker *m, const char *value, size_t len) {
  return add_secret_forms(m, value, len);
}

int masker_add_secret(masker *m, const char *value) {
  return masker_add_secret_len(m, value, strlen(value));
}

int masker_add_exact(masker *m, const char *bytes, size_t len) {
  if (len < MASKER_MIN_SECRET)
    return 0;
  add_form(m, bytes, len);
  return 1;
}

/* A number's text as a component would print it: the shortest form that reads
 * back to the same double, and jansson's own (17 digits), which is what the
 * component finds in config.json when the worker wrote it with jansson. */
static int add_real_forms(masker *m, const json_t *v) {
  double d = json_real_value(v);
  char text[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(text, sizeof(text), "%.*g", prec, d);
    if (strtod(text, NULL) == d)
      break;
  }
  int rc = add_secret_forms(m, text, strlen(text));
  char *dumped = json_dumps(v, JSON_ENCODE_ANY);
  if (dumped) {
    rc |= add_secret_forms(m, dumped, strlen(dumped));
    free(dumped);
  }
  return rc;
}

static size_t walk_config(masker *m, const json_t *v, bool secret) {
  size_t n = 0;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    /* jansson's iteration API takes non-const pointers but does not write. */
    json_t *obj = (json_t *)v;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
      const char *key = json_object_iter_key(it);
      n += walk_config(m, json_object_iter_value(it), secret || key[0] == '#');
    }
    break;
  }
  case JSON_ARRAY:
    for (size_t i = 0; i < json_array_size(v); i++)
      n += walk_config(m, json_array_get(v, i), secret);
    break;
  case JSON_STRING:
    if (secret)
      n += (size_t)add_secret_forms(m, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    if (secret) {
      char text[32];
      snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      n += (size_t)add_secret_forms(m, text, strlen(text));
    }
    break;
  case JSON_REAL:
    if (secret)
      n += (size_t)add_real_forms(m, v);
    break;
  default: /* true, false, null: not secrets, and too common to mask */
    break;
  }
  return n;
}

size_t masker_add_config(masker *m, const json_t *config) {
  if (!config)
    return 0;
  return walk_config(m, config, false);
}

/* ---- scanning ------------------------------------------------------------ */

void masker_scan_init(masker_scan *s, const masker *m) {
  *s = (masker_scan){.m = m};
  if (m)
    masker_ready(m);
}

void masker_scan_feed(masker_scan *s, const void *bytes, size_t len) {
  const masker *m = s->m;
  if (s->found || !m || m->longest == 0) {
    s->pos += len;
    return;
  }
  masker_ready(m);
  const unsigned char *p = bytes;
  uint32_t state = s->state;
  for (size_t i = 0; i < len; i++) {
    if (state == 0) {
      /* the same fast path as masker_stream_feed */
      while (i < len && m->root_next[p[i]] == 0)
        i++;
      if (i == len)
        break;
    }
    state = ac_step(m, state, p[i]);
    uint32_t match = ac_match(m, state);
    if (match) {
      s->found = true;
      s->first_end = s->pos + i + 1;
      s->first_len = match;
      break;
    }
  }
  s->state = state;
  s->pos += len;
}

bool masker_scan_found(const masker_scan *s) {
  return s->found;
}

bool masker_contains(const masker *m, const char *text, size_t len) {
  masker_scan s;
  masker_scan_init(&s, m);
  masker_scan_feed(&s, text, len);
  return s.found;
}

/* ---- streaming ----------------------------------------------------------- */

/* Bytes at positions [start, end) of the current text are hidden. */
typedef struct mask_region {
  uint64_t start;
  uint64_t end;
} mask_region;

struct masker_stream {
  const masker *m;
  masker_sink_fn sink;
  void *ctx;
  uint32_t state;
  uint64_t pos; /* bytes fed since the last flush */
  /* Held-back bytes, positions [pos - held, pos): a match ending later could
   * still start in them. At most longest-1 of them between calls. */
  unsigned char *ring;
  size_t ring_cap;
  size_t ring_head;
  size_t held;
  /* Regions not yet passed, in order, disjoint; new ones merge with the last. */
  mask_region *regions;
  size_t reg_cap;
  size_t reg_head;
  size_t reg_n;
  /* Plain output is batched so the sink is not called once per byte. */
  char out[512];
  size_t out_len;
};

masker_stream *masker_stream_new(const masker *m, masker_sink_fn sink, void *ctx) {
  masker_stream *s = xcalloc(1, sizeof(*s));
  s->m = m;
  s->sink = sink;
  s->ctx = ctx;
  if (m)
    masker_ready(m);
  return s;
}

void masker_stream_free(masker_stream *s) {
  if (!s)
    return;
  if (s->ring) {
    explicit_bzero(s->ring, s->ring_cap);
    free(s->ring);
  }
  free(s->regions);
  explicit_bzero(s, sizeof(*s));
  free(s);
}

size_t masker_stream_footprint(const masker_stream *s) {
  return s ? sizeof(*s) + s->ring_cap + s->reg_cap * sizeof(mask_region) : 0;
}

/* The ring is sized to the masker's longest form (rounded up); grows (in order) when the
 * masker gained longer forms since, which the header asks callers not to do. */
static void ring_fit(masker_stream *s, size_t longest) {
  if (s->ring_cap >= longest)
    return;
  size_t need = 16; /* a power of two: positions wrap with a mask */
  while (need < longest)
    need *= 2;
  unsigned char *ring = xmalloc(need);
  for (size_t i = 0; i < s->held; i++)
    ring[i] = s->ring[(s->ring_head + i) & (s->ring_cap - 1)];
  if (s->ring) {
    explicit_bzero(s->ring, s->ring_cap);
    free(s->ring);
  }
  s->ring = ring;
  s->ring_cap = need;
  s->ring_head = 0;
}

static void out_flush(masker_stream *s) {
  if (s->out_len) {
    s->sink(s->ctx, s->out, s->out_len, false);
    s->out_len = 0;
  }
}

static void out_plain(masker_stream *s, const char *bytes, size_t len) {
  if (len >= sizeof(s->out) - s->out_len) {
    out_flush(s);
    s->sink(s->ctx, bytes, len, false);
    return;
  }
  memcpy(s->out + s->out_len, bytes, len);
  s->out_len += len;
}

static mask_region *region_at(masker_stream *s, size_t i) {
  return &s->regions[(s->reg_head + i) & (s->reg_cap - 1)];
}

/* Matches arrive in order of their end, so a new one can only overlap the
 * regions at the back; merging there keeps the list short (bounded by the
 * window) and each region is merged at most once. */
static void region_add(masker_stream *s, uint64_t start, uint64_t end) {
  while (s->reg_n > 0) {
    mask_region *back = region_at(s, s->reg_n - 1);
    if (back->end <= start)
      break;
    if (back->start < start)
      start = back->start;
    s->reg_n--;
  }
  if (s->reg_n == s->reg_cap) {
    size_t cap = s->reg_cap ? s->reg_cap * 2 : 16;
    mask_region *r = xmalloc(cap * sizeof(*r));
    for (size_t i = 0; i < s->reg_n; i++)
      r[i] = *region_at(s, i);
    free(s->regions);
    s->regions = r;
    s->reg_cap = cap;
    s->reg_head = 0;
  }
  *region_at(s, s->reg_n++) = (mask_region){start, end};
}

/* The oldest held byte can no longer start a match: show it, hide it, or
 * start a "[hidden]" there. */
static void release_oldest(masker_stream *s) {
  uint64_t p = s->pos - s->held;
  unsigned char c = s->ring[s->ring_head];
  s->ring_head = (s->ring_head + 1) & (s->ring_cap - 1);
  s->held--;
  while (s->reg_n > 0 && region_at(s, 0)->end <= p) {
    s->reg_head = (s->reg_head + 1) & (s->reg_cap - 1);
    s->reg_n--;
  }
  if (s->reg_n > 0 && region_at(s, 0)->start <= p) {
    if (region_at(s, 0)->start == p) {
      out_flush(s);
      s->sink(s->ctx, MASKER_HIDDEN, MASKER_HIDDEN_LEN, true);
    }
    return;
  }
  s->out[s->out_len++] = (char)c;
  if (s->out_len == sizeof(s->out))
    out_flush(s);
}

void masker_stream_feed(masker_stream *s, const char *text, size_t len) {
  const masker *m = s->m;
  if (!m || m->longest == 0) {
    if (len)
      s->sink(s->ctx, text, len, false);
    return;
  }
  masker_ready(m);
  ring_fit(s, m->longest);
  const unsigned char *p = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    if (s->state == 0 && s->held == 0) {
      /* Fast path: bytes that start no form are final at once. */
      size_t j = i;
      while (j < len && m->root_next[p[j]] == 0)
        j++;
      if (j > i) {
        out_plain(s, text + i, j - i);
        s->pos += j - i;
        i = j;
        continue;
      }
    }
    s->state = ac_step(m, s->state, p[i]);
    s->ring[(s->ring_head + s->held) & (s->ring_cap - 1)] = p[i];
    s->held++;
    s->pos++;
    i++;
    uint32_t match = ac_match(m, s->state);
    if (match)
      region_add(s, s->pos - match, s->pos);
    if (s->state == 0) {
      /* No suffix of the text starts a form: no later match can reach back
       * into the held bytes, and every region found so far is complete. */
      while (s->held > 0)
        release_oldest(s);
      s->reg_n = 0;
      s->reg_head = 0;
    } else if (s->held >= m->longest) {
      /* Keep longest-1 bytes: any later match starts after the released one. */
      release_oldest(s);
    }
  }
  out_flush(s);
}

void masker_stream_flush(masker_stream *s) {
  while (s->held > 0)
    release_oldest(s);
  out_flush(s);
  s->state = 0;
  s->pos = 0;
  s->reg_n = 0;
  s->reg_head = 0;
  s->ring_head = 0;
}

/* ---- whole text ---------------------------------------------------------- */

typedef struct apply_out {
  char *buf;
  size_t len;
  size_t cap;
} apply_out;

static void apply_sink(void *ctx, const char *bytes, size_t len, bool hidden) {
  apply_out *o = ctx;
  if (o->len + len + 1 > o->cap) {
    size_t cap = o->cap * 2;
    while (cap < o->len + len + 1)
      cap *= 2;
    char *grown = realloc(o->buf, cap);
    if (!grown)
      abort();
    o->buf = grown;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, bytes, len);
  o->len += len;
}

char *masker_apply(const masker *m, const char *text, size_t len, size_t *out_len) {
  apply_out o = {.cap = len + MASKER_HIDDEN_LEN + 1};
  o.buf = xmalloc(o.cap);
  masker_stream s = {.m = m, .sink = apply_sink, .ctx = &o};
  masker_stream_feed(&s, text, len);
  masker_stream_flush(&s);
  if (s.ring) {
    explicit_bzero(s.ring, s.ring_cap);
    free(s.ring);
  }
  free(s.regions);
  o.buf[o.len] = '\0';
  if (out_len)
    *out_len = o.len;
  return o.buf;
}
