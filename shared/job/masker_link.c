/* The masker: the fail links and dense tables (masker_internal.h). */
#include "job/masker_internal.h"

#include <string.h>
#include <stdlib.h>

/* Nodes with many children get a dense table, counted over the chain starts
 * (every child but the chain child is one). */
static void make_dense(masker *m) {
  if (m->n_starts == 0)
    return;
  uint8_t *kids = masker_block_alloc(m->n_nodes);
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
        m->dense =
            masker_grow_wiped(m->dense, m->cap_dense * sizeof(*m->dense), cap * sizeof(*m->dense));
        m->dense_fail = masker_grow_wiped(m->dense_fail, m->cap_dense * sizeof(uint32_t),
                                          cap * sizeof(uint32_t));
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
  masker_block_free(kids, 0, m->n_nodes); /* counts, no secret: no need to wipe */
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
      masker_u32_map_put(&m->outs, v, inherited);
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
    st->frames = bw_xrealloc(st->frames, st->cap * sizeof(link_frame));
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
void masker_link_ready(const masker *cm) {
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
