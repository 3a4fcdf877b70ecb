/* Building a key's CA chain by issuer lookups (the token's CA certificates). */
#include "signer/chain.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

/* As sd_key_finish: the subject is the issuer and the certificate's own key verifies it. */
static int self_signed(X509 *x)
{
	int ok = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
		 X509_verify(x, X509_get0_pubkey(x)) == 1;

	ERR_clear_error();
	return ok;
}

static void name_of(const X509_NAME *n, char *out, size_t outsz)
{
	X509_NAME_oneline(n, out, (int)outsz);
}

static int taken(X509 *leaf, STACK_OF(X509) * chain, X509 *c)
{
	int i;

	if (X509_cmp(leaf, c) == 0)
		return 1;
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), c) == 0)
			return 1;
	return 0;
}

/* 1 when a is preferred over b: later notAfter, then lower by X509_cmp. */
static int better(X509 *a, X509 *b)
{
	int d = ASN1_TIME_compare(X509_get0_notAfter(a), X509_get0_notAfter(b));

	if (d != 0)
		return d > 0;
	return X509_cmp(a, b) < 0;
}

/* The best candidate that issued cur and is not taken yet, or NULL. */
static X509 *pick(X509 *cur, X509 *leaf, STACK_OF(X509) * chain, STACK_OF(X509) * cands)
{
	X509 *best = NULL, *c;
	EVP_PKEY *pk;
	int i;

	for (i = 0; i < sk_X509_num(cands); i++) {
		c = sk_X509_value(cands, i);
		pk = X509_get0_pubkey(c);
		if (pk == NULL ||
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(cur)) != 0 ||
		    taken(leaf, chain, c) || X509_verify(cur, pk) != 1)
			continue;
		if (best == NULL || better(c, best))
			best = c;
	}
	ERR_clear_error();
	return best;
}

int sd_chain_build(X509 *leaf, sd_certs_by_subject_fn find, void *ctx, size_t max,
		   struct sd_chain_result *r, struct sd_err *e)
{
	STACK_OF(X509) *cands = NULL;
	X509 *cur = leaf, *next;
	char subj[256], iss[256];
	int ret = -1;

	memset(r, 0, sizeof(*r));
	r->complete = self_signed(leaf);
	while (!r->complete) {
		if ((size_t)(r->chain ? sk_X509_num(r->chain) : 0) >= max) {
			name_of(X509_get_subject_name(cur), subj, sizeof(subj));
			snprintf(r->why, sizeof(r->why),
				 "stopped after %zu CA certificates at %.150s, not a root", max,
				 subj);
			break;
		}
		if (find(ctx, X509_get_issuer_name(cur), &cands, e) != 0)
			goto out;
		next = pick(cur, leaf, r->chain, cands);
		if (next == NULL) {
			name_of(X509_get_subject_name(cur), subj, sizeof(subj));
			name_of(X509_get_issuer_name(cur), iss, sizeof(iss));
			if (sk_X509_num(cands) == 0)
				snprintf(r->why, sizeof(r->why),
					 "no certificate of %.150s, the issuer of %.150s", iss,
					 subj);
			else
				snprintf(r->why, sizeof(r->why),
					 "no certificate of %.150s verifies the signature of "
					 "%.150s (%d by that name)",
					 iss, subj, sk_X509_num(cands));
			break;
		}
		if ((r->chain == NULL && (r->chain = sk_X509_new_null()) == NULL) ||
		    !sk_X509_push(r->chain, next)) {
			sd_err_set(e, SD_E_INTERNAL, "out of memory");
			goto out;
		}
		X509_up_ref(next);
		sk_X509_pop_free(cands, X509_free);
		cands = NULL;
		cur = next;
		r->complete = self_signed(cur);
	}
	ret = 0;
out:
	sk_X509_pop_free(cands, X509_free);
	if (ret != 0) {
		sk_X509_pop_free(r->chain, X509_free);
		r->chain = NULL;
		r->complete = 0;
	}
	return ret;
}
