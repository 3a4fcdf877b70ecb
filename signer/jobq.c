/* A round-robin queue of FIFO queues, one per owner with jobs (see jobq.h). */
#include "signer/jobq.h"

#include <stdlib.h>
#include <string.h>

struct sd_jobq_owner {
	uint32_t owner;
	struct sd_job *head, *tail;
	struct sd_jobq_owner *next; /* in ready or spare */
};

void sd_jobq_init(struct sd_jobq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Owners with jobs are few (one per publisher service): a linear look is enough. */
static struct sd_jobq_owner *find(struct sd_jobq *q, uint32_t owner)
{
	struct sd_jobq_owner *o;

	for (o = q->ready; o != NULL; o = o->next)
		if (o->owner == owner)
			return o;
	return NULL;
}

int sd_jobq_push(struct sd_jobq *q, struct sd_job *j, uint32_t owner)
{
	struct sd_jobq_owner *o = find(q, owner);

	if (o == NULL) {
		o = q->spare;
		if (o != NULL)
			q->spare = o->next;
		else if ((o = malloc(sizeof(*o))) == NULL)
			return -1;
		o->owner = owner;
		o->head = o->tail = NULL;
		o->next = NULL;
		/* A new owner's turn comes after every owner already waiting. */
		if (q->ready_tail != NULL)
			q->ready_tail->next = o;
		else
			q->ready = o;
		q->ready_tail = o;
	}
	j->next = NULL;
	if (o->tail != NULL)
		o->tail->next = j;
	else
		o->head = j;
	o->tail = j;
	q->njobs++;
	return 0;
}

struct sd_job *sd_jobq_pop(struct sd_jobq *q)
{
	struct sd_jobq_owner *o = q->ready;
	struct sd_job *j;

	if (o == NULL)
		return NULL;
	j = o->head;
	o->head = j->next;
	if (o->head == NULL)
		o->tail = NULL;
	j->next = NULL;
	q->njobs--;
	/* This owner had its turn: to the back, or out when it has nothing left. */
	q->ready = o->next;
	if (q->ready == NULL)
		q->ready_tail = NULL;
	o->next = NULL;
	if (o->head != NULL) {
		if (q->ready_tail != NULL)
			q->ready_tail->next = o;
		else
			q->ready = o;
		q->ready_tail = o;
	} else {
		o->next = q->spare;
		q->spare = o;
	}
	return j;
}

void sd_jobq_free(struct sd_jobq *q)
{
	struct sd_jobq_owner *o, *n;

	for (o = q->ready; o != NULL; o = n) {
		n = o->next;
		free(o);
	}
	for (o = q->spare; o != NULL; o = n) {
		n = o->next;
		free(o);
	}
	memset(q, 0, sizeof(*q));
}
