/*
 * The workers' job queue, fair between owners (peer uids): owners with jobs
 * take turns, one job each, and each owner's jobs stay in their order. One
 * publisher's batch therefore delays another's single request by about one
 * signature per worker, not by the whole batch.
 */
#ifndef SD_JOBQ_H
#define SD_JOBQ_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in what is queued. */
struct sd_job {
	struct sd_job *next;
};

struct sd_jobq_owner;

struct sd_jobq {
	struct sd_jobq_owner *ready, *ready_tail; /* owners with jobs, in turn order */
	struct sd_jobq_owner *spare;		  /* emptied owners, reused */
	size_t njobs;
};

void sd_jobq_init(struct sd_jobq *q);

/* Queue j as owner's last job. -1: out of memory (nothing queued). */
int sd_jobq_push(struct sd_jobq *q, struct sd_job *j, uint32_t owner);

/* The next job in turn, or NULL when empty. */
struct sd_job *sd_jobq_pop(struct sd_jobq *q);

/* Free the queue's own memory (the jobs are the caller's). */
void sd_jobq_free(struct sd_jobq *q);

#endif
