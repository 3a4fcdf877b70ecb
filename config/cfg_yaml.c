/* libyaml event stream -> bounded node tree with 1-based positions. */
#include "config/cfg_int.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct builder {
	const char *file;
	struct sd_err *e;
	struct ynode *root;
	struct ynode *stack[CFG_MAX_DEPTH];
	size_t depth;
	size_t nnodes;
	int ndocs;
};

void cfg_ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		cfg_ynode_free(n->kids[i]);
	free(n->kids);
	free(n->s);
	free(n);
}

static int mark_line(const yaml_mark_t *m)
{
	return (int)m->line + 1;
}

static int mark_col(const yaml_mark_t *m)
{
	return (int)m->column + 1;
}

static int append(struct builder *b, struct ynode *parent, struct ynode *n)
{
	struct ynode **v;
	size_t cap;

	if (parent->nkids == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 8;
		v = realloc(parent->kids, cap * sizeof(*v));
		if (v == NULL)
			return cfg_errf(b->e, b->file, n->line, n->col, "out of memory");
		parent->kids = v;
		parent->cap = cap;
	}
	parent->kids[parent->nkids++] = n;
	return 0;
}

/* Create a node for the event and attach it; takes no ownership of the event. */
static int add_node(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
	struct ynode *n = NULL, *parent;
	int line = mark_line(&ev->start_mark), col = mark_col(&ev->start_mark);
	int ret = -1;

	if (b->root != NULL && b->depth == 0)
		return cfg_errf(b->e, b->file, line, col, "unexpected content after the document");
	if (++b->nnodes > CFG_MAX_NODES)
		return cfg_errf(b->e, b->file, line, col, "too many YAML nodes (limit %d)",
				CFG_MAX_NODES);
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return cfg_errf(b->e, b->file, line, col, "out of memory");
	n->kind = kind;
	n->line = line;
	n->col = col;
	if (kind == YN_SCALAR) {
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->s = malloc(n->len + 1);
		if (n->s == NULL) {
			cfg_errf(b->e, b->file, line, col, "out of memory");
			goto out;
		}
		memcpy(n->s, ev->data.scalar.value, n->len);
		n->s[n->len] = '\0';
	}
	if (b->depth == 0) {
		b->root = n;
	} else {
		parent = b->stack[b->depth - 1];
		if (parent->kind == YN_MAP && parent->nkids % 2 == 0 && kind != YN_SCALAR) {
			cfg_errf(b->e, b->file, line, col, "a mapping key must be a plain string");
			goto out;
		}
		if (append(b, parent, n) != 0)
			goto out;
	}
	if (kind != YN_SCALAR) {
		if (b->depth == CFG_MAX_DEPTH) {
			/* n is already owned by the tree */
			n = NULL;
			cfg_errf(b->e, b->file, line, col, "nesting deeper than %d levels",
				 CFG_MAX_DEPTH);
			goto out;
		}
		b->stack[b->depth++] = n;
	}
	n = NULL;
	ret = 0;
out:
	if (n != NULL && n != b->root)
		cfg_ynode_free(n);
	return ret;
}

static int parser_error(struct builder *b, const yaml_parser_t *ps, const uint8_t *p, size_t len)
{
	int line = 1, col = 1;
	size_t i;

	switch (ps->error) {
	case YAML_MEMORY_ERROR:
		return cfg_errf(b->e, b->file, 1, 1, "out of memory while parsing YAML");
	case YAML_READER_ERROR:
		/* Reader errors carry a byte offset, not a mark. */
		for (i = 0; i < ps->problem_offset && i < len; i++) {
			if (p[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		if (ps->problem_value != -1)
			return cfg_errf(b->e, b->file, line, col, "%s (byte 0x%02x)",
					ps->problem ? ps->problem : "invalid input",
					(unsigned)ps->problem_value & 0xffu);
		return cfg_errf(b->e, b->file, line, col, "%s",
				ps->problem ? ps->problem : "invalid input");
	default:
		break;
	}
	line = mark_line(&ps->problem_mark);
	col = mark_col(&ps->problem_mark);
	if (ps->context != NULL)
		return cfg_errf(b->e, b->file, line, col, "%s (%s at line %d, column %d)",
				ps->problem ? ps->problem : "YAML syntax error", ps->context,
				mark_line(&ps->context_mark), mark_col(&ps->context_mark));
	return cfg_errf(b->e, b->file, line, col, "%s",
			ps->problem ? ps->problem : "YAML syntax error");
}

/* Refuse anchors and explicit tags: the schema needs neither. */
static int check_props(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
		       const yaml_char_t *tag)
{
	int line = mark_line(&ev->start_mark), col = mark_col(&ev->start_mark);

	if (anchor != NULL)
		return cfg_errf(b->e, b->file, line, col,
				"YAML anchors and aliases are not supported");
	if (tag != NULL)
		return cfg_errf(b->e, b->file, line, col, "YAML tags are not supported");
	return 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *done)
{
	int line = mark_line(&ev->start_mark), col = mark_col(&ev->start_mark);

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		*done = 1;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (b->ndocs > 0)
			return cfg_errf(b->e, b->file, line, col,
					"multiple YAML documents are not allowed");
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		b->ndocs++;
		return 0;
	case YAML_ALIAS_EVENT:
		return cfg_errf(b->e, b->file, line, col,
				"YAML anchors and aliases are not supported");
	case YAML_SCALAR_EVENT:
		if (check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag) != 0)
			return -1;
		return add_node(b, ev, YN_SCALAR);
	case YAML_SEQUENCE_START_EVENT:
		if (check_props(b, ev, ev->data.sequence_start.anchor,
				ev->data.sequence_start.tag) != 0)
			return -1;
		return add_node(b, ev, YN_SEQ);
	case YAML_MAPPING_START_EVENT:
		if (check_props(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag) !=
		    0)
			return -1;
		return add_node(b, ev, YN_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth == 0)
			return cfg_errf(b->e, b->file, line, col, "unbalanced YAML events");
		b->depth--;
		return 0;
	}
	return cfg_errf(b->e, b->file, line, col, "unexpected YAML event");
}

int cfg_yaml_parse(const char *file, const uint8_t *p, size_t n, struct ynode **root,
		   struct sd_err *e)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	struct builder b;
	int done = 0, ret = -1, r;

	*root = NULL;
	memset(&b, 0, sizeof(b));
	b.file = file;
	b.e = e;
	if (!yaml_parser_initialize(&ps))
		return cfg_errf(e, file, 1, 1, "out of memory while parsing YAML");
	yaml_parser_set_input_string(&ps, p, n);
	yaml_parser_set_encoding(&ps, YAML_UTF8_ENCODING);
	while (!done) {
		if (!yaml_parser_parse(&ps, &ev)) {
			parser_error(&b, &ps, p, n);
			goto out;
		}
		r = on_event(&b, &ev, &done);
		yaml_event_delete(&ev);
		if (r != 0)
			goto out;
	}
	*root = b.root;
	b.root = NULL;
	ret = 0;
out:
	cfg_ynode_free(b.root);
	yaml_parser_delete(&ps);
	return ret;
}
