/* sd_jobq: owners take turns, each owner's jobs keep their order, nothing is lost. */
#include <CUnit/Basic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "signer/jobq.h"

struct item {
	struct sd_job job;
	unsigned owner, n;
};

static struct item *item_of(struct sd_job *j)
{
	return j == NULL ? NULL : (struct item *)((char *)j - offsetof(struct item, job));
}

/* Pop everything as "owner:n" words. */
static void drain(struct sd_jobq *q, char *out, size_t outsz)
{
	struct item *it;
	size_t o = 0;

	out[0] = '\0';
	while ((it = item_of(sd_jobq_pop(q))) != NULL && o < outsz)
		o +=
		    (size_t)snprintf(out + o, outsz - o, "%s%u:%u", o ? " " : "", it->owner, it->n);
}

static void push(struct sd_jobq *q, struct item *it, unsigned owner, unsigned n)
{
	it->owner = owner;
	it->n = n;
	CU_ASSERT_EQUAL(sd_jobq_push(q, &it->job, owner), 0);
}

static void test_turns(void)
{
	struct sd_jobq q;
	struct item v[16];
	char out[256];
	unsigned i;

	sd_jobq_init(&q);
	CU_ASSERT_PTR_NULL(sd_jobq_pop(&q));
	/* A batch of 6 from owner 1, then one request from 2 and two from 3. */
	for (i = 0; i < 6; i++)
		push(&q, &v[i], 1, i);
	push(&q, &v[6], 2, 0);
	push(&q, &v[7], 3, 0);
	push(&q, &v[8], 3, 1);
	CU_ASSERT_EQUAL(q.njobs, 9);
	drain(&q, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1:0 2:0 3:0 1:1 3:1 1:2 1:3 1:4 1:5");
	CU_ASSERT_EQUAL(q.njobs, 0);
	sd_jobq_free(&q);
}

/* Jobs pushed between pops: a newcomer waits for the owners already waiting, no longer. */
static void test_interleaved(void)
{
	struct sd_jobq q;
	struct item v[16];
	struct item *it;
	char out[256];
	unsigned i;

	sd_jobq_init(&q);
	for (i = 0; i < 4; i++)
		push(&q, &v[i], 7, i);
	it = item_of(sd_jobq_pop(&q));
	CU_ASSERT_EQUAL(it->owner * 10 + it->n, 70);
	push(&q, &v[4], 9, 0);
	it = item_of(sd_jobq_pop(&q));
	CU_ASSERT_EQUAL(it->owner * 10 + it->n, 71);
	it = item_of(sd_jobq_pop(&q));
	CU_ASSERT_EQUAL(it->owner * 10 + it->n, 90);
	/* Owner 9 emptied and left; it comes back behind owner 7. */
	push(&q, &v[5], 9, 1);
	drain(&q, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "7:2 9:1 7:3");
	/* Owners that emptied are reused; many owners and many jobs lose nothing. */
	for (i = 0; i < 16; i++)
		push(&q, &v[i], i % 5, i);
	drain(&q, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "0:0 1:1 2:2 3:3 4:4 0:5 1:6 2:7 3:8 4:9 0:10 1:11 2:12 3:13 "
				    "4:14 0:15");
	sd_jobq_free(&q);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("fair job queue", NULL, NULL);
	CU_add_test(s, "owners take turns", test_turns);
	CU_add_test(s, "pushes between pops", test_interleaved);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
