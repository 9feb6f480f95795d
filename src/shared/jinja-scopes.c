/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Jinja's symbol tracking (jinja2/idtracking.py), for the one place where
 * it differs from plain nested scopes: a name that a scope assigns before
 * it reads it starts out undefined in that scope, hiding the outer value
 * or the context variable of the same name until the assignment runs.
 * So in
 *
 *     {% for i in l %}{% for j in l %}{{ x }}{% endfor %}{% set x = 1 %}{% endfor %}
 *
 * the inner loop sees an undefined x even when the context has one.
 * This pass walks each scope in Jinja's order, with its rules for
 * parameters, aliases of outer names and {% if %} branches, and records
 * the names that start undefined in FrameNames for the renderer. */

#include "jinja-internal.h"

typedef enum RefKind {
        REF_PARAM,
        REF_RESOLVE,    /* read before written: the context's value */
        REF_ALIAS,      /* an outer scope's variable */
        REF_UNDEFINED,  /* written before read: undefined until then */
} RefKind;

typedef struct Ref {
        const char *name;
        RefKind kind;
} Ref;

typedef struct Symbols {
        const struct Symbols *parent;
        Ref *refs;
        size_t n_refs;
        const char **stores;
        size_t n_stores;
} Symbols;

static void symbols_done(Symbols *s) {
        free(s->refs);
        free(s->stores);
        *s = (Symbols) {};
}

static Ref *local_ref(const Symbols *s, const char *name) {
        for (size_t i = 0; i < s->n_refs; i++)
                if (streq(s->refs[i].name, name))
                        return s->refs + i;
        return NULL;
}

static const Ref *find_ref(const Symbols *s, const char *name) {
        for (; s; s = s->parent) {
                const Ref *r = local_ref(s, name);

                if (r)
                        return r;
        }
        return NULL;
}

static int define_ref(Symbols *s, const char *name, RefKind kind) {
        Ref *r = local_ref(s, name), *t;

        if (r) {
                r->kind = kind;
                return 0;
        }
        t = reallocarray(s->refs, s->n_refs + 1, sizeof(Ref));
        if (!t)
                return -ENOMEM;
        s->refs = t;
        s->refs[s->n_refs++] = (Ref) { .name = name, .kind = kind };
        return 0;
}

static bool is_stored(const Symbols *s, const char *name) {
        for (size_t i = 0; i < s->n_stores; i++)
                if (streq(s->stores[i], name))
                        return true;
        return false;
}

static int add_store(Symbols *s, const char *name) {
        const char **t;

        if (is_stored(s, name))
                return 0;
        t = reallocarray(s->stores, s->n_stores + 1, sizeof(char *));
        if (!t)
                return -ENOMEM;
        s->stores = t;
        s->stores[s->n_stores++] = name;
        return 0;
}

static int sym_store(Symbols *s, const char *name) {
        int r = add_store(s, name);

        if (r < 0 || local_ref(s, name))
                return r;
        if (s->parent && find_ref(s->parent, name))
                return define_ref(s, name, REF_ALIAS);
        return define_ref(s, name, REF_UNDEFINED);
}

static int sym_param(Symbols *s, const char *name) {
        int r = add_store(s, name);

        return r < 0 ? r : define_ref(s, name, REF_PARAM);
}

static int sym_load(Symbols *s, const char *name) {
        if (find_ref(s, name))
                return 0;
        return define_ref(s, name, REF_RESOLVE);
}

static int symbols_copy(const Symbols *s, Symbols *ret) {
        *ret = (Symbols) { .parent = s->parent };
        ret->refs = reallocarray(NULL, MAX(s->n_refs, (size_t) 1), sizeof(Ref));
        ret->stores = reallocarray(NULL, MAX(s->n_stores, (size_t) 1), sizeof(char *));
        if (!ret->refs || !ret->stores) {
                symbols_done(ret);
                return -ENOMEM;
        }
        if (s->n_refs > 0)
                memcpy(ret->refs, s->refs, s->n_refs * sizeof(Ref));
        if (s->n_stores > 0)
                memcpy(ret->stores, s->stores, s->n_stores * sizeof(char *));
        ret->n_refs = s->n_refs;
        ret->n_stores = s->n_stores;
        return 0;
}

/* Symbols.branch_update() (Jinja 3.1.6): merge the branches of an
 * {% if %}; a name first assigned in a branch is read from outside until
 * assigned, whether or not every branch assigns it.  (Jinja before 3.1.3
 * made an exception for names assigned in all three branches.) */
static int branch_update(Symbols *s, Symbols *branches, size_t n) {
        _cleanup_free_ const char **before = NULL;
        size_t n_before = s->n_stores;
        int r = 0;

        before = reallocarray(NULL, MAX(n_before, (size_t) 1), sizeof(char *));
        if (!before)
                return -ENOMEM;
        if (n_before > 0)
                memcpy(before, s->stores, n_before * sizeof(char *));

        for (size_t b = 0; r >= 0 && b < n; b++) {
                for (size_t i = 0; r >= 0 && i < branches[b].n_refs; i++)
                        r = define_ref(s, branches[b].refs[i].name, branches[b].refs[i].kind);
                for (size_t i = 0; r >= 0 && i < branches[b].n_stores; i++)
                        r = add_store(s, branches[b].stores[i]);
        }

        for (size_t i = 0; r >= 0 && i < s->n_stores; i++) {
                const char *name = s->stores[i];
                bool was_stored = false;

                for (size_t j = 0; j < n_before; j++)
                        was_stored = was_stored || streq(before[j], name);
                if (!was_stored)
                        r = define_ref(s, name, s->parent && find_ref(s->parent, name) ? REF_ALIAS : REF_RESOLVE);
        }
        return r;
}

static int load_expr(const JExpr *e, void *userdata) {
        Symbols *s = userdata;

        if (e->kind == JE_NAME)
                return sym_load(s, e->name);
        return 0;
}

/* Jinja's FrameSymbolVisitor on an expression: names are read. */
static int visit_expr(Symbols *s, const JExpr *e) {
        JBody one;
        JNode n = { .kind = JN_OUTPUT, .expr = (JExpr *) e };
        JNode *np = &n;

        if (!e)
                return 0;
        one = (JBody) { .nodes = &np, .n = 1 };
        return jinja_walk_body(&one, load_expr, s);
}

/* An assignment target: names written; ns.attr reads ns. */
static int visit_target(Symbols *s, const JExpr *t, bool as_param) {
        int r = 0;

        switch (t->kind) {
        case JE_NAME:
                return as_param ? sym_param(s, t->name) : sym_store(s, t->name);
        case JE_TUPLE:
                for (size_t i = 0; r >= 0 && i < t->n_items; i++)
                        r = visit_target(s, t->items[i], as_param);
                return r;
        case JE_NSREF:
                return sym_load(s, t->a->name);
        default:
                return 0;
        }
}

static int visit_nodes(Symbols *s, const JBody *b);

static int visit_branch(const Symbols *s, const JBody *b, Symbols *ret) {
        int r;

        r = symbols_copy(s, ret);
        if (r >= 0 && b)
                r = visit_nodes(ret, b);
        return r;
}

static int visit_if(Symbols *s, const JNode *n, bool alone);

/* The elif branch: every elif of the chain, each an if of its own. */
static int visit_elifs(const Symbols *s, const JNode *first, Symbols *ret) {
        int r;

        r = symbols_copy(s, ret);
        for (const JNode *e = first; r >= 0 && e; ) {
                r = visit_if(ret, e, true);
                e = e->orelse.n == 1 && e->orelse.nodes[0]->is_elif ? e->orelse.nodes[0] : NULL;
        }
        return r;
}

/* Jinja's visit_If: the test, then three branches (body, the elifs,
 * else), merged.  An elif visited as part of a chain ("alone") has no
 * elifs or else of its own: in Jinja those belong to the first if. */
static int visit_if(Symbols *s, const JNode *n, bool alone) {
        Symbols branches[3] = {};
        const JNode *first_elif = NULL, *last = n;
        int r;

        r = visit_expr(s, n->expr);
        if (r < 0)
                return r;
        if (!alone)
                for (const JNode *e = n; e->orelse.n == 1 && e->orelse.nodes[0]->is_elif; e = e->orelse.nodes[0]) {
                        if (!first_elif)
                                first_elif = e->orelse.nodes[0];
                        last = e->orelse.nodes[0];
                }

        r = visit_branch(s, &n->body, &branches[0]);
        if (r >= 0)
                r = alone || !first_elif ? visit_branch(s, NULL, &branches[1]) : visit_elifs(s, first_elif, &branches[1]);
        if (r >= 0)
                r = visit_branch(s, alone ? NULL : &last->orelse, &branches[2]);
        if (r >= 0)
                r = branch_update(s, branches, 3);
        for (size_t i = 0; i < 3; i++)
                symbols_done(&branches[i]);
        return r;
}

/* One statement in the scope being analysed; inner scopes are skipped
 * except for what Jinja evaluates in this one. */
static int visit_node(Symbols *s, const JNode *n) {
        int r = 0;

        switch (n->kind) {
        case JN_DATA:
                return 0;
        case JN_OUTPUT:
                return visit_expr(s, n->expr);
        case JN_IF:
                return visit_if(s, n, false);
        case JN_SET:
                r = visit_expr(s, n->expr);
                return r < 0 ? r : visit_target(s, n->target, false);
        case JN_SETBLOCK:
                return visit_target(s, n->target, false);
        case JN_MACRO:
                return sym_store(s, n->name);
        case JN_FOR:
        case JN_CALLBLOCK:
        case JN_FILTERBLOCK:
                return visit_expr(s, n->expr);
        case JN_WITH:
                for (size_t i = 0; r >= 0 && i < n->n_with; i++)
                        r = visit_expr(s, n->with_values[i]);
                return r;
        }
        return 0;
}

static int visit_nodes(Symbols *s, const JBody *b) {
        for (size_t i = 0; i < b->n; i++) {
                int r = visit_node(s, b->nodes[i]);

                if (r < 0)
                        return r;
        }
        return 0;
}

static int collect_undefined(const Symbols *s, FrameNames *ret) {
        free(ret->names);
        *ret = (FrameNames) {};
        for (size_t i = 0; i < s->n_refs; i++) {
                const char **t;

                if (s->refs[i].kind != REF_UNDEFINED)
                        continue;
                t = reallocarray(ret->names, ret->n + 1, sizeof(char *));
                if (!t)
                        return -ENOMEM;
                ret->names = t;
                ret->names[ret->n++] = s->refs[i].name;
        }
        return 0;
}

static int analyze_body(const Symbols *parent, JBody *b);

/* A scope: its parameters, then its body; then the scopes inside. */
static int analyze_frame(const Symbols *parent, JNode *owner, JBody *body, FrameNames *ret) {
        _cleanup_(symbols_done) Symbols s = { .parent = parent };
        int r = 0;

        if (owner) {
                switch (owner->kind) {
                case JN_FOR:
                        if (body == &owner->body)
                                r = visit_target(&s, owner->target, true);
                        break;
                case JN_MACRO:
                case JN_CALLBLOCK:
                        for (size_t i = 0; r >= 0 && i < owner->n_params; i++)
                                r = sym_param(&s, owner->params[i]);
                        for (size_t i = 0; r >= 0 && i < owner->n_defaults; i++)
                                r = visit_expr(&s, owner->defaults[i]);
                        break;
                case JN_WITH:
                        for (size_t i = 0; r >= 0 && i < owner->n_with; i++)
                                r = visit_target(&s, owner->with_targets[i], true);
                        break;
                default:
                        break;
                }
        }
        if (r >= 0)
                r = visit_nodes(&s, body);
        /* Jinja visits a filter block's body, then its filter */
        if (r >= 0 && owner && owner->kind == JN_FILTERBLOCK)
                r = visit_expr(&s, owner->expr);
        if (r >= 0 && owner && (owner->kind == JN_MACRO || owner->kind == JN_CALLBLOCK)) {
                /* declared by the compiler after the analysis */
                if (owner->catch_caller)
                        r = sym_param(&s, "caller");
                if (r >= 0 && owner->catch_kwargs)
                        r = sym_param(&s, "kwargs");
                if (r >= 0 && owner->catch_varargs)
                        r = sym_param(&s, "varargs");
        }
        if (r >= 0)
                r = collect_undefined(&s, ret);
        if (r >= 0)
                r = analyze_body(&s, body);
        return r;
}

/* The scopes that start inside body (and inside its {% if %} branches,
 * which belong to body's scope). */
static int analyze_body(const Symbols *parent, JBody *b) {
        for (size_t i = 0; i < b->n; i++) {
                JNode *n = b->nodes[i];
                int r = 0;

                switch (n->kind) {
                case JN_IF:
                        r = analyze_body(parent, &n->body);
                        if (r >= 0)
                                r = analyze_body(parent, &n->orelse);
                        break;
                case JN_FOR:
                        r = analyze_frame(parent, n, &n->body, &n->frame);
                        if (r >= 0)
                                r = analyze_frame(parent, n, &n->orelse, &n->else_frame);
                        break;
                case JN_MACRO:
                case JN_CALLBLOCK:
                case JN_WITH:
                case JN_SETBLOCK:
                case JN_FILTERBLOCK:
                        r = analyze_frame(parent, n, &n->body, &n->frame);
                        break;
                default:
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int jinja_analyze_frames(JTemplate *t) {
        return analyze_frame(NULL, NULL, &t->body, &t->frame);
}
