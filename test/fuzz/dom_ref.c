/* dom_ref.c — libxml2's tree of a stream, in stz_canon's form. */
#include "test/fuzz/dom_ref.h"
#include "test/fuzz/stz_canon.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

struct dom_ref {
	xmlParserCtxtPtr ctxt;
	xmlNodePtr next;         /* the next child of the stream element to look at */
};

struct dom_ref *dom_ref_parse(const char *data, size_t len)
{
	struct dom_ref *r = calloc(1, sizeof(*r));
	FUZZ_CHECK(r != NULL);
	r->ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, NULL);
	FUZZ_CHECK(r->ctxt != NULL);
	xmlCtxtUseOptions(r->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	for (size_t off = 0; off < len; off += 4096) /* the same slices as xmlstream */
		xmlParseChunk(r->ctxt, data + off, (int)(len - off < 4096 ? len - off : 4096), 0);
	xmlNodePtr root = r->ctxt->myDoc ? xmlDocGetRootElement(r->ctxt->myDoc) : NULL;
	r->next = root ? root->children : NULL;
	return r;
}

/* A namespace name as xmlstream gives it: libxml2 keeps '&' in one as the
 * reference "&#38;" (entity substitution is off), the builder decodes it. */
static void put_ns(struct buf *out, const xmlNs *ns)
{
	struct buf v = { 0 };
	for (const char *p = ns ? (const char *)ns->href : ""; *p;) {
		bool amp = strncmp(p, "&#38;", 5) == 0;
		FUZZ_CHECK(buf_append(&v, amp ? "&" : p, 1) == XS_OK);
		p += amp ? 5 : 1;
	}
	canon_bytes(out, v.data, v.len);
	buf_free(&v);
}

static void put_element(struct buf *out, struct buf *run, uint16_t *run_depth,
                        xmlNodePtr n, uint16_t depth)
{
	canon_text(out, run, *run_depth);
	canon_bytes(out, "E", 1);
	canon_bytes(out, &depth, sizeof(depth));
	canon_bytes(out, n->name, strlen((const char *)n->name));
	put_ns(out, n->ns);
	uint32_t nattrs = 0;
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		nattrs++;
	canon_bytes(out, &nattrs, sizeof(nattrs));
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
		canon_bytes(out, a->name, strlen((const char *)a->name));
		put_ns(out, a->ns);
		canon_bytes(out, v ? (const char *)v : "", v ? strlen((const char *)v) : 0);
		xmlFree(v);
	}
	for (xmlNodePtr c = n->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE) {
			put_element(out, run, run_depth, c, (uint16_t)(depth + 1));
		} else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
		           c->content && *c->content) {
			if (run->len > 0 && *run_depth != depth + 1)
				canon_text(out, run, *run_depth);
			*run_depth = (uint16_t)(depth + 1);
			FUZZ_CHECK(buf_appendz(run, (const char *)c->content) == XS_OK);
		}
	}
}

bool dom_ref_next(struct dom_ref *r, struct buf *out)
{
	while (r->next && r->next->type != XML_ELEMENT_NODE)
		r->next = r->next->next;
	if (!r->next)
		return false;
	struct buf run = { 0 };
	uint16_t run_depth = 0;
	put_element(out, &run, &run_depth, r->next, 0);
	canon_text(out, &run, run_depth);
	buf_free(&run);
	r->next = r->next->next;
	return true;
}

void dom_ref_free(struct dom_ref *r)
{
	xmlFreeDoc(r->ctxt->myDoc);
	xmlFreeParserCtxt(r->ctxt);
	free(r);
}
